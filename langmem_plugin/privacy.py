"""The PII policy: find personal data in text and keep, redact or refuse it before it is stored.

Each detector is a plain function from text to `PiiSpan`s. Numbers with a check digit are
validated (Luhn for payment cards, ISO 13616 mod-97 for IBANs, the SSA's area/group/serial rules
for US social security numbers), phone numbers are recognised by Google's libphonenumber rules
(the `phonenumbers` package), so order numbers, dates, prices and version strings are left alone.
`screen_text` applies a `PrivacyConfig` to one text; every write path calls it (or
`screen_value` for a LangGraph store value) before anything reaches a manager or a tier.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import phonenumbers

from .config import PrivacyConfig
from .errors import SensitiveDataError

PiiCategory = Literal["email", "phone", "payment_card", "iban", "national_id", "secret"]

# What a redacted span becomes; none of them is found by any detector, so redaction is idempotent.
PLACEHOLDERS: dict[str, str] = {
    "secret": "[secret]",
    "payment_card": "[payment card]",
    "iban": "[IBAN]",
    "national_id": "[national id]",
    "email": "[email]",
    "phone": "[phone number]",
}
_LABELS = {
    "secret": "a secret (password or API key)",
    "payment_card": "a payment card number",
    "iban": "an IBAN",
    "national_id": "a national id number",
    "email": "an email address",
    "phone": "a phone number",
}


@dataclass(frozen=True)
class PiiSpan:
    category: PiiCategory
    start: int
    end: int


# -- detectors -------------------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
)


def find_emails(text: str) -> list[PiiSpan]:
    return [PiiSpan("email", m.start(), m.end()) for m in _EMAIL.finditer(text)]


_DIGIT = re.compile(r"\d")


def find_phones(text: str, region: str = "US") -> list[PiiSpan]:
    """Numbers libphonenumber finds valid for their country (+country code, or `region`'s format)
    and grouped as that country writes them, so "order 2024-118734" is not a phone number; and any
    number written with a + and a country code that has a possible length for that country (a
    range not yet allocated, or kept for fiction, is still somebody's number to protect)."""
    if not _DIGIT.search(text):
        return []
    found = {
        (m.start, m.end)
        for m in phonenumbers.PhoneNumberMatcher(
            text, region.upper(), leniency=phonenumbers.Leniency.STRICT_GROUPING
        )
    }
    if "+" in text:
        international = phonenumbers.PhoneNumberMatcher(
            text, region.upper(), leniency=phonenumbers.Leniency.POSSIBLE
        )
        found |= {(m.start, m.end) for m in international if m.raw_string.startswith("+")}
    return [PiiSpan("phone", start, end) for start, end in sorted(found)]


# 13 to 19 digits, optionally grouped by single spaces or dashes
_CARD = re.compile(r"(?<![\d.,-])\d(?:[ -]?\d){12,18}(?![\d.,]\d)(?!-\d)")


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def find_payment_cards(text: str) -> list[PiiSpan]:
    if not _DIGIT.search(text):  # most messages hold no digit at all
        return []
    spans = []
    for match in _CARD.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and digits[0] != "0" and luhn_valid(digits):
            spans.append(PiiSpan("payment_card", match.start(), match.end()))
    return spans


# country code, check digits, then 11 to 30 letters/digits, optionally in groups of four
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")


def iban_valid(candidate: str) -> bool:
    """ISO 13616: move the first four characters to the end, letters to 10..35, the number mod 97 is 1."""
    compact = candidate.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def find_ibans(text: str) -> list[PiiSpan]:
    """The longest valid IBAN at each candidate; a grouped one that ran into the following words
    is shortened group by group until its check digits hold."""
    spans = []
    for match in _IBAN.finditer(text):
        candidate = match.group()
        while candidate:
            if iban_valid(candidate):
                spans.append(PiiSpan("iban", match.start(), match.start() + len(candidate)))
                break
            cut = candidate.rfind(" ")
            candidate = candidate[:cut] if cut > 4 else ""
    return spans


_SSN_SEPARATED = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d-])")
# nine bare digits count only right after the words that name them
_SSN_NAMED = re.compile(
    r"(?i:\b(?:ssn|social security(?: number)?)\b)\D{0,12}?(?<!\d)"
    r"((?!000|666|9\d\d)\d{3}(?!00)\d{2}(?!0000)\d{4})(?!\d)"
)


# UK National Insurance numbers: two prefix letters (not D, F, I, Q, U, V; O not second; seven
# prefixes never issued), six digits, a suffix A-D. No checksum: the shape itself is rare in text.
_NINO = re.compile(
    r"\b(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"
)
# Spanish DNI (eight digits) and NIE (X, Y or Z and seven digits), then their check letter
_DNI = re.compile(r"\b(?P<prefix>[XYZ]-?)?(?P<number>\d{7,8})-?(?P<letter>[A-Z])\b")
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
# French social security numbers (NIR): sex, year, month, department (2A/2B: Corsica), commune,
# order, then a key that makes the whole 0 mod 97; spaces between the groups as on the card
_NIR = re.compile(
    r"\b(?P<body>[12] ?\d{2} ?(?:0[1-9]|1[0-2]|[2-9]\d) ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3}) ?(?P<key>\d{2})\b"
)
# nine bare digits are a Dutch BSN (11-proof) or a Canadian SIN (Luhn) only after the words naming them
_BSN_NAMED = re.compile(
    r"(?i:\b(?:bsn|burgerservicenummer)\b)\D{0,12}?(?<!\d)(\d{4}[ .]?\d{2}[ .]?\d{3}|\d{9})(?!\d)"
)
_SIN_NAMED = re.compile(
    r"(?i:\b(?:sin|social insurance(?: number)?)\b)\D{0,12}?(?<!\d)(\d{3}[ -]?\d{3}[ -]?\d{3})(?!\d)"
)


def _dni_valid(match: re.Match) -> bool:
    prefix, number = (match.group("prefix") or "").rstrip("-"), match.group("number")
    if len(number) != (7 if prefix else 8):
        return False
    value = int(str("XYZ".index(prefix)) + number if prefix else number)
    return _DNI_LETTERS[value % 23] == match.group("letter")


def _nir_valid(match: re.Match) -> bool:
    body = match.group("body").replace(" ", "")
    digits = body.replace("2A", "19").replace("2B", "18") if body[5:7] in ("2A", "2B") else body
    return 97 - int(digits) % 97 == int(match.group("key"))


def _bsn_valid(digits: str) -> bool:
    """The Dutch 11-proof: 9, 8, ..., 2 times the first eight digits, minus the last, is 0 mod 11."""
    total = sum(weight * int(d) for weight, d in zip(range(9, 1, -1), digits[:8], strict=True)) - int(
        digits[8]
    )
    return total % 11 == 0 and digits != "000000000"


def find_national_ids(text: str) -> list[PiiSpan]:
    """US social security numbers (AAA-GG-SSSS, or nine digits after "SSN"), UK National Insurance
    numbers, Spanish DNI / NIE and French NIR numbers (check letter or key verified), and Dutch BSN
    and Canadian SIN numbers after the words that name them (11-proof, Luhn)."""
    if not _DIGIT.search(text):  # every one of them holds digits
        return []
    spans = [PiiSpan("national_id", m.start(), m.end()) for m in _SSN_SEPARATED.finditer(text)]
    spans += [PiiSpan("national_id", m.start(1), m.end(1)) for m in _SSN_NAMED.finditer(text)]
    spans += [PiiSpan("national_id", m.start(), m.end()) for m in _NINO.finditer(text)]
    spans += [PiiSpan("national_id", m.start(), m.end()) for m in _DNI.finditer(text) if _dni_valid(m)]
    spans += [PiiSpan("national_id", m.start(), m.end()) for m in _NIR.finditer(text) if _nir_valid(m)]
    for pattern, valid in ((_BSN_NAMED, _bsn_valid), (_SIN_NAMED, luhn_valid)):
        for m in pattern.finditer(text):
            if valid(re.sub(r"\D", "", m.group(1))):
                spans.append(PiiSpan("national_id", m.start(1), m.end(1)))
    return spans


# Token shapes published by their issuers: OpenAI, GitHub, AWS access keys, Slack, Google, JWTs.
_TOKEN = re.compile(
    r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}"
    r"|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,}"
    r"|AIza[0-9A-Za-z_-]{35}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})"
)
# a PIN, a door code or a combination: a secret when the value holds a digit
_SECRET_WORD = (
    r"(?:password|passcode|passphrase|passwd|pwd|(?P<digits>pin(?: code| number)?"
    r"|(?:door|gate|alarm|garage|entry|lock|safe|security) code|combination))"
)
# "password is X", "PIN: 1234", "passcode = X", "the password for the shared account is X", "my
# password is now X": the value after the word is the secret
_STATED = re.compile(
    rf"(?i:\b{_SECRET_WORD}\b)"
    r"(?:\s+(?i:for|to|of|on|at)(?:\s+[\w'@.&-]+){1,4}?)?"
    r"(?:\s+(?i:is|was)(?:\s+(?i:now|still|set to|changed to|updated to))?|\s*[:=])"
    r"\s*[\"'“]?(?P<value>[^\s\"'”]+)"
)
# "hunter2 is my password", "I use hunter2 as my wifi password": the value before the word, which
# ends the clause ("security is our password problem" states none)
_STATED_BEFORE = re.compile(
    r"(?:(?i:\b(?:use|used|uses|using|chose|picked))\s+)?[\"'“]?(?P<value>[^\s\"'“”]+?)[\"'”]?"
    r"\s+(?i:is|was|as)\s+(?i:my|our|the|his|her|their)\s+(?:[\w-]+\s+)?"
    rf"(?i:{_SECRET_WORD})\b(?=\s*(?:[.,;:!?)]|$)|\s+(?i:for|on|at|to|of|too|now)\b)"
)
# "token: X", "API key is X": the value counts when it looks random (see _looks_random)
_KEYED = re.compile(
    r"(?i:\b(?:token|(?:api|access|secret|private)[ _-]?key|secret|key)\b)"
    r"(?:\s+(?:is|was|=)|\s*[:=])\s*[\"'“]?(?P<value>[^\s\"'”]+)"
)
# Words that follow "password is" in sentences about a password rather than stating one
_NOT_A_SECRET = frozenset(
    "a an the my your his her our their its not no still now being too very required incorrect wrong "
    "correct invalid expired weak strong set reset changed saved stored hidden encrypted missing empty "
    "long short secure different same case-sensitive protected needed forgotten lost updated "
    "this that it which what who here there mine yours one nothing something anything also just "
    "really probably only on in at under behind inside below above written taped printed posted "
    "shared known given easy hard simple complicated unique obvious".split()
)


def _value_end(value: str) -> int:
    """A stated value loses the sentence punctuation that follows it, but an exclamation mark, which
    ends many passwords (redacting one that ends the sentence costs nothing)."""
    return len(value.rstrip(".,;:?)"))


def _looks_random(value: str) -> bool:
    """Long, mixing letters and digits, and spread over many symbols: a generated key, not a word."""
    if len(value) < 16 or not re.search(r"\d", value) or not re.search(r"[A-Za-z]", value):
        return False
    counts = Counter(value)
    entropy = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return entropy >= 3.0


# Each secret pattern above holds one of these (case aside): a substring check rules out most
# texts before any of the patterns runs, which keeps the default policy cheap on every message.
_SECRET_HINTS = (
    "pass",
    "pwd",
    "pin",
    "code",
    "combination",
    "token",
    "key",
    "secret",
    "api",
    "access",
    "private",
    "sk-",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "akia",
    "asia",
    "xox",
    "aiza",
    "eyj",
)


def find_secrets(text: str) -> list[PiiSpan]:
    lowered = text.lower()
    if not any(hint in lowered for hint in _SECRET_HINTS):
        return []
    spans = [PiiSpan("secret", m.start(), m.end()) for m in _TOKEN.finditer(text)]
    for match in (*_STATED.finditer(text), *_STATED_BEFORE.finditer(text)):
        value = match.group("value")
        end = _value_end(value)
        stated = value[:end]
        if (
            end
            and stated.lower() not in _NOT_A_SECRET
            and stated not in PLACEHOLDERS.values()
            and (match.group("digits") is None or _DIGIT.search(stated))
        ):
            spans.append(PiiSpan("secret", match.start("value"), match.start("value") + end))
    for match in _KEYED.finditer(text):
        value = match.group("value")
        end = _value_end(value)
        if _looks_random(value[:end]):
            spans.append(PiiSpan("secret", match.start("value"), match.start("value") + end))
    return spans


# -- policy ----------------------------------------------------------------------------------

# Where spans overlap, the earlier category here wins: an IBAN (country code and mod-97 check)
# before a card (a Luhn-valid run of its digits), a card before a phone number.
_DETECTORS: list[tuple[PiiCategory, Callable[[str, str], list[PiiSpan]]]] = [
    ("secret", lambda text, _: find_secrets(text)),
    ("iban", lambda text, _: find_ibans(text)),
    ("payment_card", lambda text, _: find_payment_cards(text)),
    ("national_id", lambda text, _: find_national_ids(text)),
    ("email", lambda text, _: find_emails(text)),
    ("phone", find_phones),
]


def find_pii(
    text: str, region: str = "US", categories: frozenset[str] = frozenset(PLACEHOLDERS)
) -> list[PiiSpan]:
    """The PII spans of `categories` in `text`, in text order and never overlapping."""
    taken: list[PiiSpan] = []
    for category, detect in _DETECTORS:
        if category not in categories:
            continue
        for span in detect(text, region):
            if all(span.end <= t.start or span.start >= t.end for t in taken):
                taken.append(span)
    return sorted(taken, key=lambda s: s.start)


def screen_text(privacy: PrivacyConfig, text: str, what: str = "text") -> str:
    """`text` with the policy applied: SensitiveDataError for a refused category (naming the
    category and `what`, never the value), else every redacted span replaced by its placeholder."""
    policy = {category: getattr(privacy.pii, category) for category in PLACEHOLDERS}
    watched = frozenset(c for c, action in policy.items() if action != "keep")
    if not watched:
        return text
    spans = find_pii(text, privacy.phone_region, watched)
    for span in spans:
        if policy[span.category] == "refuse":
            raise SensitiveDataError(
                f"{what} contains {_LABELS[span.category]}, which the privacy policy refuses "
                f"(privacy.pii.{span.category}: refuse); nothing was stored"
            )
    for span in reversed(spans):
        text = text[: span.start] + PLACEHOLDERS[span.category] + text[span.end :]
    return text


def screen_value(privacy: PrivacyConfig, value: Any, what: str = "value") -> Any:
    """A JSON value with `screen_text` applied to every string in it (keys stay as they are)."""
    if isinstance(value, str):
        return screen_text(privacy, value, what)
    if isinstance(value, dict):
        return {key: screen_value(privacy, item, what) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [screen_value(privacy, item, what) for item in value]
    return value
