"""The PII policy (privacy.py): the detectors over generated inputs, the keep / redact / refuse
policy per category, and every write path applying it before anything is stored or shown to a
manager (verbatim add, the offline manager, a scripted LLM, update, import, MemoryStore.put)."""

import hashlib
import json
import os
import string
import subprocess
import sys

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langmem_plugin import (
    AsyncMemory,
    ConfigurationError,
    EventType,
    Memory,
    MemoryConfig,
    SensitiveDataError,
)
from langmem_plugin.config import PrivacyConfig
from langmem_plugin.integrations.store import MemoryStore
from langmem_plugin.privacy import (
    PLACEHOLDERS,
    find_ibans,
    find_national_ids,
    find_payment_cards,
    find_phones,
    find_pii,
    iban_valid,
    luhn_valid,
    screen_text,
)
from langmem_plugin.records import Scope
from langmem_plugin.transfer import plan_import, run_import

from .helpers import HashingEmbeddings
from .serving import bearer, make_key, serving
from .test_cli_and_config import ROOT, cli
from .test_llm_manager import facts, scripted

CATEGORIES = sorted(PLACEHOLDERS)
ALL_REDACTED = PrivacyConfig(pii={c: "redact" for c in CATEGORIES})
CARD = "4539 1488 0343 6467"  # Luhn-valid
EXAMPLES = {
    "email": "Write to dana.kim@example.org about it.",
    "phone": "My cell is (415) 555-0132.",
    "payment_card": f"Charge my card {CARD} please.",
    "iban": "Send it to DE89 3704 0044 0532 0130 00 by Friday.",
    "national_id": "My SSN is 536-22-8764.",
    "secret": "My wifi password is Tr0ub4dor&3, don't share it.",
}
VALUES = {
    "email": "dana.kim@example.org",
    "phone": "(415) 555-0132",
    "payment_card": CARD,
    "iban": "DE89 3704 0044 0532 0130 00",
    "national_id": "536-22-8764",
    "secret": "Tr0ub4dor&3",
}


def with_luhn_digit(body: str) -> str:
    return next(body + d for d in string.digits if luhn_valid(body + d))


def grouped(digits: str, separator: str) -> str:
    return separator.join(digits[i : i + 4] for i in range(0, len(digits), 4))


cards = st.builds(
    lambda first, rest, length: with_luhn_digit((first + rest)[: length - 1]),
    st.sampled_from("3456"),
    st.text(string.digits, min_size=18, max_size=18),
    st.integers(13, 19),
)


def with_iban_check(country: str, bban: str) -> str:
    return next(f"{country}{k:02d}{bban}" for k in range(2, 99) if iban_valid(f"{country}{k:02d}{bban}"))


ibans = st.builds(
    with_iban_check,
    st.sampled_from(["DE", "FR", "GB", "NL", "ES", "IT", "CH", "BE"]),
    st.text(string.ascii_uppercase[:6] + string.digits, min_size=12, max_size=26),
)
# words without digits, @ or the words a secret follows: no detector has anything to find
plain_words = st.lists(
    st.text(string.ascii_letters, min_size=1, max_size=12).filter(
        lambda w: w.lower() not in {"password", "passcode", "passphrase", "passwd", "pin", "ssn"}
    ),
    min_size=1,
    max_size=20,
)


@given(cards, st.sampled_from(["", " ", "-"]))
def test_generated_card_numbers_are_found_whole(digits, separator):
    text = f"my card is {grouped(digits, separator)} thanks"
    found = find_payment_cards(text)
    assert [text[s.start : s.end] for s in found] == [grouped(digits, separator)]


@given(cards, st.integers(1, 9))
def test_luhn_invalid_numbers_are_not_cards(digits, shift):
    wrong = digits[:-1] + str((int(digits[-1]) + shift) % 10)
    assert not luhn_valid(wrong)
    assert find_payment_cards(f"order {wrong} shipped") == []


@given(ibans, st.booleans())
def test_generated_ibans_are_found(iban, spaced):
    written = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4)) if spaced else iban
    text = f"IBAN {written} for rent"
    assert [text[s.start : s.end] for s in find_ibans(text)] == [written]


@given(ibans)
def test_an_iban_is_never_taken_for_a_card_inside_it(iban):
    grouped_iban = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    text = f"Pay {grouped_iban} today."
    assert [(s.category, text[s.start : s.end]) for s in find_pii(text)] == [("iban", grouped_iban)]


@given(ibans, st.integers(1, 96))
def test_ibans_with_wrong_check_digits_are_not_found(iban, delta):
    wrong = f"{iban[:2]}{(int(iban[2:4]) + delta) % 97:02d}{iban[4:]}"
    if not iban_valid(wrong):
        assert find_ibans(f"account {wrong} closed") == []


@given(st.integers(0, 999), st.integers(0, 99), st.integers(0, 9999))
def test_ssn_rules(area, group, serial):
    text = f"SSN {area:03d}-{group:02d}-{serial:04d}."
    valid = area not in (0, 666) and area < 900 and group != 0 and serial != 0
    assert bool(find_national_ids(text)) == valid


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


@given(st.integers(0, 10**8 - 1), st.sampled_from(["", "X", "Y", "Z"]), st.sampled_from(_DNI_LETTERS))
def test_a_dni_or_nie_is_found_exactly_when_its_check_letter_holds(number, prefix, letter):
    digits = f"{number % 10**7:07d}" if prefix else f"{number:08d}"
    written = f"{prefix}{digits}{letter}"
    valid = _DNI_LETTERS[int(str("XYZ".find(prefix)) + digits if prefix else digits) % 23] == letter
    text = f"Mi documento es {written}."
    assert [text[s.start : s.end] for s in find_national_ids(text)] == ([written] if valid else [])


@given(
    st.sampled_from("12"),
    st.integers(0, 99),
    st.integers(1, 12),
    st.integers(1, 95),
    st.integers(0, 999),
    st.integers(0, 999),
    st.integers(0, 99),
)
def test_a_french_nir_is_found_exactly_when_its_key_holds(sex, year, month, department, commune, order, key):
    body = f"{sex} {year:02d} {month:02d} {department:02d} {commune:03d} {order:03d}"
    written = f"{body} {key:02d}"
    text = f"Numéro de sécurité sociale : {written}"
    valid = 97 - int(body.replace(" ", "")) % 97 == key
    assert [text[s.start : s.end] for s in find_national_ids(text)] == ([written] if valid else [])


@given(st.integers(10**8, 10**9 - 1))
def test_nine_digits_after_bsn_or_sin_are_an_id_exactly_when_their_check_holds(number):
    digits = str(number)
    eleven_proof = (sum(w * int(d) for w, d in zip(range(9, 1, -1), digits[:8])) - int(digits[8])) % 11 == 0
    for text, valid in (
        (f"Mijn BSN is {digits}.", eleven_proof),
        (f"My SIN is {digits}.", luhn_valid(digits)),
    ):
        assert [text[s.start : s.end] for s in find_national_ids(text)] == ([digits] if valid else [])
    assert find_national_ids(f"Booking {digits} confirmed.") == []


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("Text me on +44 7700 900123 when you land.", "+44 7700 900123"),  # kept for fiction: not valid
        ("Mon portable : +33 6 12 34 56 78", "+33 6 12 34 56 78"),
        ("Call 415-555-0132 after six.", "415-555-0132"),
    ],
)
def test_a_number_written_with_its_country_code_is_a_phone_number_valid_or_not(text, phone):
    assert [text[s.start : s.end] for s in find_phones(text)] == [phone]


@pytest.mark.parametrize(
    "text", ["version +2.5 and +100 points", "It was +23 degrees, +5 tomorrow.", "Scored +1234567."]
)
def test_signed_numbers_are_not_phone_numbers(text):
    assert find_phones(text) == []


@pytest.mark.parametrize("nino", ["JG 10 37 59 A", "PE123456B", "AB 12 34 56 C"])
def test_a_uk_national_insurance_number_is_found(nino):
    text = f"My National Insurance number is {nino}."
    assert [text[s.start : s.end] for s in find_national_ids(text)] == [nino]


@pytest.mark.parametrize("code", ["AB123456E", "QQ123456C", "GB123456A", "DA123456A", "AO123456A"])
def test_codes_shaped_unlike_a_national_insurance_number_are_not_one(code):
    assert find_national_ids(f"Part {code} is back in stock.") == []


@settings(max_examples=200)
@given(st.lists(st.one_of(plain_words.map(" ".join), st.sampled_from(list(EXAMPLES.values())), cards)))
def test_redaction_is_idempotent_and_leaves_no_value(parts):
    text = ". ".join(parts) or "empty"
    once = screen_text(ALL_REDACTED, text)
    assert screen_text(ALL_REDACTED, once) == once
    assert find_pii(once) == []


@given(plain_words)
def test_text_without_pii_is_unchanged(words):
    text = " ".join(words) + "."
    assert find_pii(text) == []
    assert screen_text(ALL_REDACTED, text) == text


@pytest.mark.parametrize(
    "text",
    [
        "The password reset email never arrived.",
        "Order 2024-118734 ships on 2024-01-15 for $1,299.99.",
        "We upgraded to version 10.4.2.1883 yesterday.",
        "The office ZIP code is 94103-1234.",
        "Tracking number 1Z999AA10123456784 is on the box.",
        "The password is required to log in.",
        "Call extension 4417 at the front desk.",
    ],
)
def test_everyday_numbers_and_words_are_not_pii(text):
    assert find_pii(text) == []


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("The password for the shared account is Winter2024!", "Winter2024!"),
        ("the password to my laptop was changed to X9-kite", "X9-kite"),
        ("My password is now Blue77, write it down.", "Blue77"),
        ("hunter2 is my password", "hunter2"),
        ("I use 'Bl@ckCoffee' as my wifi password", "Bl@ckCoffee"),
        ("pwd: kettle-77", "kettle-77"),
        ("Our door code is 2468, come in whenever.", "2468"),
        ("Ann's bike lock code is 5512.", "5512"),
        ("The safe's combination is 36-24-12.", "36-24-12"),
    ],
)
def test_a_secret_stated_in_other_words_is_found(text, secret):
    assert [text[s.start : s.end] for s in find_pii(text)] == [secret]


@pytest.mark.parametrize(
    "text",
    [
        "The password for the wifi is written on the router.",
        "That is my PIN, the one I told you about.",
        "The pin for the map is red.",
        "The access code was sent by text.",
        "This is the password I mentioned.",
        "The combination is perfect for a summer salad.",
        "Security is our password problem, not theirs.",
    ],
)
def test_sentences_about_a_secret_that_state_none_are_not_pii(text):
    assert find_pii(text) == []


@pytest.mark.parametrize("category", CATEGORIES)
def test_policy_per_category(category):
    text = EXAMPLES[category]
    assert [s.category for s in find_pii(text)] == [category]
    others = {c: "refuse" for c in CATEGORIES if c != category}  # no other category is touched
    keep = PrivacyConfig(pii={**others, category: "keep"})
    assert screen_text(keep, text) == text
    redacted = screen_text(PrivacyConfig(pii={**others, category: "redact"}), text)
    assert redacted == text.replace(VALUES[category], PLACEHOLDERS[category])
    with pytest.raises(SensitiveDataError) as refused:
        screen_text(PrivacyConfig(pii={**others, category: "refuse"}), text, "message 0")
    assert category in str(refused.value) and "message 0" in str(refused.value)
    assert VALUES[category] not in str(refused.value)


def test_defaults_redact_secrets_and_cards_and_keep_the_rest():
    defaults = MemoryConfig().privacy
    assert {c: a for c, a in defaults.pii.model_dump().items() if a != "keep"} == {
        "payment_card": "redact",
        "secret": "redact",
    }
    for category in CATEGORIES:
        expected = EXAMPLES[category]
        if category in ("payment_card", "secret"):
            expected = expected.replace(VALUES[category], PLACEHOLDERS[category])
        assert screen_text(defaults, EXAMPLES[category]) == expected


def test_policy_from_environment_and_unknown_actions_refused():
    config = MemoryConfig.from_env(
        {"LANGMEM_PRIVACY__PII__EMAIL": "refuse", "LANGMEM_PRIVACY__PHONE_REGION": "GB"}
    )
    assert config.privacy.pii.email == "refuse" and config.privacy.phone_region == "GB"
    with pytest.raises(ConfigurationError):
        MemoryConfig.from_dict({"privacy": {"pii": {"email": "hide"}}})
    with pytest.raises(ConfigurationError):
        MemoryConfig.from_dict({"privacy": {"pii": {"passport": "redact"}}})


# -- every write path ------------------------------------------------------------------------


def open_memory(tmp_path, pii=None, **kwargs):
    config = {"path": str(tmp_path / "mem"), "privacy": {"pii": pii or {}}}
    return Memory(config, embeddings=HashingEmbeddings(), **kwargs)


def store_digest(memory: Memory) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in memory.config.path.rglob("*") if p.is_file()):
        digest.update(str(path).encode() + path.read_bytes())
    return digest.hexdigest()


def stored_bytes_hold(memory: Memory, *values: str) -> bool:
    """Whether any file of the store holds one of `values` (as UTF-8)."""
    blobs = [p.read_bytes() for p in memory.config.path.rglob("*") if p.is_file()]
    return any(v.encode() in blob for v in values for blob in blobs)


def stored_texts(memory: Memory, **scope) -> list[str]:
    return sorted(r.text for r in memory.get_all(**scope, include_invalidated=True))


def test_verbatim_add_redacts_before_storing_and_in_history(tmp_path):
    with open_memory(tmp_path) as memory:
        ops = memory.add(
            [{"role": "user", "content": [{"type": "text", "text": EXAMPLES["payment_card"]}]}],
            user_id="u",
            infer=False,
        )
        assert stored_texts(memory, user_id="u") == ["Charge my card [payment card] please."]
        assert CARD not in json.dumps([e.model_dump(mode="json") for e in memory.history(ops[0].memory.id)])
        assert not stored_bytes_hold(memory, CARD)


def test_refused_add_writes_nothing(tmp_path):
    with open_memory(tmp_path, {"email": "refuse"}) as memory:
        memory.add("I like green tea.", user_id="u", infer=False)
        before = store_digest(memory)
        for infer in (False, True):
            with pytest.raises(SensitiveDataError, match="email"):
                memory.add(["Fine weather.", EXAMPLES["email"]], user_id="u", infer=infer)
        assert store_digest(memory) == before
        assert stored_texts(memory, user_id="u") == ["I like green tea."]


def test_offline_manager_never_stores_the_secret(tmp_path):
    with open_memory(tmp_path) as memory:
        memory.add("My bank password is Hunter2Secret! and I live in Lisbon.", user_id="u")
        texts = stored_texts(memory, user_id="u")
        assert texts and not any("Hunter2Secret" in t for t in texts)
        assert not stored_bytes_hold(memory, "Hunter2Secret")


def test_llm_manager_never_sees_the_secret(tmp_path):
    model, recorder = scripted(facts(("User's wifi password is [secret]", ["m1"])))
    with open_memory(tmp_path, llm=model) as memory:
        memory.add([{"role": "user", "content": EXAMPLES["secret"], "id": "m1"}], user_id="u")
        assert len(recorder.calls) == 1
        prompt = "\n".join(str(m.content) for m in recorder.calls[0])
        assert "Tr0ub4dor&3" not in prompt and "[secret]" in prompt
        assert stored_texts(memory, user_id="u") == ["User's wifi password is [secret]"]
        assert not stored_bytes_hold(memory, "Tr0ub4dor&3")


def test_update_applies_the_policy(tmp_path):
    with open_memory(tmp_path, {"national_id": "refuse"}) as memory:
        memory_id = memory.add("I like green tea.", user_id="u", infer=False)[0].memory.id
        updated = memory.update(memory_id, "New card: 4111 1111 1111 1111.")
        assert updated.text == "New card: [payment card]."
        with pytest.raises(SensitiveDataError, match="national_id"):
            memory.update(memory_id, EXAMPLES["national_id"])
        assert memory.get(memory_id).text == "New card: [payment card]."
        assert [e.event for e in memory.history(memory_id)] == [EventType.ADD, EventType.UPDATE]


def test_import_checks_the_policy_before_storing(tmp_path):
    messages = [{"role": "user", "content": "Hello there."}, {"role": "user", "content": EXAMPLES["iban"]}]
    refusing = PrivacyConfig(pii={"iban": "refuse"})
    with pytest.raises(SensitiveDataError, match="iban"):
        plan_import(messages, 20, privacy=refusing)
    with open_memory(tmp_path) as memory:
        plan = plan_import(messages + [{"role": "user", "content": EXAMPLES["secret"]}], 20)
        run_import(memory, plan, Scope(user_id="u"), infer=False)
        texts = stored_texts(memory, user_id="u")
        assert len(texts) == 3 and "Tr0ub4dor&3" not in " ".join(texts)


def test_cli_import_refused_by_the_policy_stores_nothing(tmp_path):
    source = tmp_path / "chat.jsonl"
    source.write_text(json.dumps({"role": "user", "content": EXAMPLES["email"]}) + "\n")
    refusing = {"LANGMEM_PRIVACY__PII__EMAIL": "refuse"}
    result = cli(
        "import", str(source), "--user-id", "u", store=tmp_path / "store", check=False, settings=refusing
    )
    assert result.returncode != 0
    assert "privacy.pii.email: refuse" in result.stderr
    assert "dana.kim" not in result.stderr + result.stdout
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").rglob("*.sqlite*"))


async def test_store_put_redacts_the_whole_value_and_refuses(tmp_path):
    with open_memory(tmp_path, {"phone": "refuse"}) as memory:
        store = MemoryStore(memory, index_fields=["text"])
        store.put(("notes",), "k1", {"text": EXAMPLES["secret"], "extra": {"card": CARD}})
        item = store.get(("notes",), "k1")
        assert item.value == {
            "text": EXAMPLES["secret"].replace("Tr0ub4dor&3", "[secret]"),
            "extra": {"card": "[payment card]"},
        }
        assert not stored_bytes_hold(memory, "Tr0ub4dor&3", CARD)
        before = store_digest(memory)
        with pytest.raises(SensitiveDataError, match="phone"):
            await store.aput(("notes",), "k2", {"text": "hi", "more": [EXAMPLES["phone"]]})
        assert store_digest(memory) == before
        assert await store.aget(("notes",), "k2") is None


def test_labelled_set_and_benchmark_report():
    rows = [
        json.loads(line) for line in (ROOT / "benchmarks/data/pii_sentences.jsonl").read_text().splitlines()
    ]
    with_pii = [row for row in rows if row["pii"]]
    assert len(rows) >= 200 and 0.4 <= len(with_pii) / len(rows) <= 0.6
    assert {label["category"] for row in with_pii for label in row["pii"]} == set(CATEGORIES)
    assert all(label["value"] in row["text"] for row in with_pii for label in row["pii"])
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/pii.py")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
        timeout=120,
    )
    report = json.loads(result.stdout)
    assert report["sentences"] == len(rows) and set(report["per_category"]) == set(CATEGORIES)
    for figures in report["per_category"].values():
        assert figures["tp"] + figures["fn"] == figures["labelled"] > 0


async def test_async_add_applies_the_same_policy(tmp_path):
    memory = AsyncMemory(
        {"path": str(tmp_path / "amem"), "privacy": {"pii": {"email": "refuse"}}},
        embeddings=HashingEmbeddings(),
    )
    try:
        [added] = await memory.add(EXAMPLES["payment_card"], user_id="u", infer=False)
        assert added.memory.text == "Charge my card [payment card] please."
        with pytest.raises(SensitiveDataError, match="email"):
            await memory.add(EXAMPLES["email"], user_id="u", infer=False)
        assert len(await memory.get_all(user_id="u")) == 1
    finally:
        await memory.aclose()


def test_rest_add_applies_the_policy_and_names_only_the_category(tmp_path):
    with open_memory(tmp_path, {"email": "refuse"}) as memory, serving(memory) as url:
        key = make_key(memory, "app", "read,write", user_id="alice")
        with httpx.Client(base_url=url, headers=bearer(key), timeout=60) as api:
            card = {"messages": [{"role": "user", "content": EXAMPLES["payment_card"]}], "infer": False}
            [item] = api.post("/v1/memories", json=card).json()["results"]
            assert item["memory"] == "Charge my card [payment card] please."
            email = {"messages": [{"role": "user", "content": EXAMPLES["email"]}], "infer": False}
            refused = api.post("/v1/memories", json=email)
            assert (
                refused.status_code in (400, 422) and refused.json()["error"]["type"] == "SensitiveDataError"
            )
            assert "dana.kim" not in refused.text
        assert stored_texts(memory, user_id="alice") == ["Charge my card [payment card] please."]
