"""The blind index: keyed hashes (HMAC-SHA256 under a key derived from the scope's data key) of
what a backend must compare without reading it: keyword terms, metadata keys and values, content
hashes.

Keyword matching finds a query word's root (`relevance.word_root`) at the start of a stored word:
any tail after a root of `MIN_ROOT` letters or more, at most two letters after a shorter one
("allerg" finds "allergen", "dog" finds "dogs"). A memory's text therefore reaches the backend as,
for each word in order, the blind tokens of every root that would find it (`_matched_roots`); a
query as the tokens of its keyword terms' roots. The backend indexes and ranks those tokens as it
would words (FTS5, the in-memory scan, Weaviate's BM25): a query token is in exactly the memories
whose plain text the plain query would match, as many times. BM25's document lengths count the
tokens, more than the words (what the recall figures in docs/benchmarks.md include). A token is
`TOKEN_DIGITS` decimal digits: no suffix rule, stemmer or stopword list of any backend alters it,
and no token is a prefix of another.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from ..errors import InvalidFilterError
from ..filters import compile_filters, filter_key, filter_path
from ..tiers.vector.relevance import MIN_ROOT, WORD, keyword_terms, word_root

_EQUALITY = ("$eq", "$ne")
_MEMBERSHIP = ("$in", "$nin")


# 12 decimal digits (about 40 bits): a false keyword match needs two roots of one user to share a
# token (for 10,000 distinct roots, a chance of about 1 in 20,000); short tokens keep scans and
# indexes small
TOKEN_DIGITS = 12


@lru_cache(maxsize=262144)
def blind_token(key: bytes, word: str) -> str:
    digest = hmac.digest(key, word.encode("utf-8"), "sha256")
    return f"{int.from_bytes(digest[:8], 'big') % 10**TOKEN_DIGITS:0{TOKEN_DIGITS}d}"


def _matched_roots(word: str) -> list[str]:
    """Every query root that keyword matching would find in `word` (see the module's docstring)."""
    shortest = max(2, len(word) - 2)
    return [word[:n] for n in range(min(shortest, MIN_ROOT), len(word) + 1) if n >= MIN_ROOT or n >= shortest]


@lru_cache(maxsize=262144)
def _word_tokens(key: bytes, word: str) -> str:
    return " ".join(blind_token(key, root) for root in _matched_roots(word) or [word])


def blind_text(key: bytes, text: str) -> str:
    """The text as the blind tokens of the roots that find each of its words, in order (a word too
    short to be a query term is one token: it counts in BM25's document length)."""
    return " ".join(_word_tokens(key, word) for word in WORD.findall(text.lower()))


def blind_terms(key: bytes, terms: list[str]) -> dict[str, str]:
    """Each keyword term (`relevance.keyword_terms`) by its blind token."""
    return {blind_token(key, word_root(term)): term for term in terms}


def blind_query(key: bytes, query: str) -> str:
    return " ".join(blind_terms(key, keyword_terms(query)))


def blind_hash(key: bytes, content_hash: str) -> str:
    return hmac.new(key, b"hash|" + content_hash.encode("utf-8"), hashlib.sha256).hexdigest()


def _value_bytes(value: Any) -> bytes:
    # numbers compare by value, as SQL's json_extract does (1 == 1.0); booleans stay apart from them
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = float(value)
    return json.dumps(value, sort_keys=True).encode("utf-8")


def blind_metadata_key(key: bytes, name: str) -> str:
    return "m" + blind_token(key, "metadata key|" + name)


def blind_metadata_value(key: bytes, name: str, value: Any) -> str:
    digest = hmac.new(
        key, b"metadata value|" + name.encode("utf-8") + b"|" + _value_bytes(value), hashlib.sha256
    )
    return digest.hexdigest()[:32]


def _leaves(metadata: Mapping[str, Any], outer: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """Each scalar of nested metadata under the filter key that names it (filters.filter_key):
    lists and nulls match no filter (filters.metadata_value), so they have no entry."""
    for name, value in metadata.items():
        if isinstance(value, Mapping):
            yield from _leaves(value, (*outer, name))
        elif value is not None and not isinstance(value, list):
            yield filter_key(*outer, name), value


def blind_metadata(key: bytes, metadata: Mapping[str, Any]) -> dict[str, str]:
    """Metadata as blind key -> blind value, one entry per scalar, nested ones under their dotted
    filter key: what equality filters compare."""
    return {blind_metadata_key(key, k): blind_metadata_value(key, k, v) for k, v in _leaves(metadata)}


def blind_filters(key: bytes, filters: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The filters over blind metadata. Equality and membership ($eq, $ne, $in, $nin) keep their
    meaning; an order comparison ($gt, $gte, $lt, $lte) cannot be made on keyed hashes and raises
    InvalidFilterError."""
    if not filters:
        return None
    compile_filters(filters)  # the same validation (typed errors) as on an unencrypted store
    blinded: dict[str, Any] = {}
    for given, condition in filters.items():
        name = filter_key(*filter_path(given))  # "a.b" and an escaped dot name what _leaves names
        operations = condition if isinstance(condition, Mapping) else {"$eq": condition}
        translated: dict[str, Any] = {}
        for operator, value in operations.items():
            if operator in _EQUALITY:
                translated[operator] = blind_metadata_value(key, name, value)
            elif operator in _MEMBERSHIP:
                translated[operator] = [blind_metadata_value(key, name, item) for item in value]
            else:
                raise InvalidFilterError(
                    f"{operator} on {name!r} compares values in order, which an encrypted store cannot do "
                    "(its metadata is stored as keyed hashes): use $eq, $ne, $in or $nin"
                )
        blinded[blind_metadata_key(key, name)] = translated
    return blinded
