"""The blind index: keyed hashes (keyed BLAKE2b and HMAC-SHA256 under keys derived from the scope's
data key) of what a backend must compare without reading it: keyword terms, metadata keys and
values, content hashes.

Keyword matching finds a query word's root (`relevance.word_root`) at the start of a stored word:
any tail after a root of `MIN_ROOT` letters or more, at most two letters after a shorter one
("allerg" finds "allergen", "dog" finds "dogs"). A memory's text therefore reaches the backend as,
for each word in order, the blind tokens of every root that a query can hold and that would find
the word (`_matched_roots`); a query as the tokens of its keyword terms' roots. A root shorter than
`MIN_ROOT` is only ever a whole query word, never a stopword (`relevance.keyword_terms`), so a
stopword's short roots get no token, and a word that no query finds ("a", "is") none at all. The
backend indexes and ranks those tokens as it would words (FTS5, the in-memory scan, Weaviate's
BM25): a query token is in exactly the memories whose plain text the plain query would match, as
many times. BM25's document lengths count the tokens, not the words (what the recall figures in
docs/benchmarks.md include).

A token is `TOKEN_CHARS` characters: lower-case letters and digits ending in a digit, so that no
suffix rule, stemmer or stopword list of any backend alters it, and no token is a prefix of
another. Short tokens keep the blind text, its indexes and its scans small.
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
from ..tiers.vector.relevance import MIN_ROOT, STOPWORDS, WORD, keyword_terms, word_root

_EQUALITY = ("$eq", "$ne")
_MEMBERSHIP = ("$in", "$nin")


# The version of the blind index's tokens that a new encrypted store records in its marker
BLIND_INDEX = 2

# 7 characters of 32 and a digit of 8: 38 bits. A false keyword match needs two roots of one user
# to share a token (for 10,000 distinct roots, a chance of about 1 in 5,000 that any pair does)
TOKEN_CHARS = 8
_LETTERS = bytes(b"abcdefghijklmnopqrstuvwxyz234567"[byte % 32] for byte in range(256))
_DIGITS = bytes(b"01234567"[byte % 8] for byte in range(256))


# The tokens kept for each of the most recently used keys: a user's vocabulary is mostly words stored
# before, so most words of a new memory cost one dictionary lookup. A word kept costs about 520
# bytes with its roots' tokens (LoCoMo): at most about 70 MB for all keys.
_KEYS_KEPT = 16
_WORDS_KEPT = 8192


class _Tokens:
    """The blind tokens of one key, each root's and each word's computed once."""

    def __init__(self, key: bytes):
        self._keyed = hashlib.blake2b(key=key, digest_size=TOKEN_CHARS)  # copied: the key is set once
        self._roots: dict[str, str] = {}
        self.words: dict[str, str] = {}  # word -> its tokens joined by spaces ("" when no query finds it)

    def of_root(self, root: str) -> str:
        token = self._roots.get(root)
        if token is None:
            hashed = self._keyed.copy()
            hashed.update(root.encode("utf-8"))
            digest = hashed.digest()
            token = (digest[:-1].translate(_LETTERS) + digest[-1:].translate(_DIGITS)).decode("ascii")
            self._roots[root] = token
        return token

    def of_words(self, words: list[str]) -> str:
        """The words' tokens in order, joined by spaces."""
        known = self.words
        try:  # most often every word is known
            return " ".join(filter(None, map(known.__getitem__, words)))
        except KeyError:
            pass
        if len(known) > _WORDS_KEPT:  # replaced, not cleared: a concurrent call keeps reading its own
            known = self.words = {}
            self._roots = {}
        found = []
        for word in words:
            tokens = known.get(word)
            if tokens is None:
                tokens = known[word] = " ".join(map(self.of_root, _matched_roots(word)))
            if tokens:
                found.append(tokens)
        return " ".join(found)


@lru_cache(maxsize=_KEYS_KEPT)
def _tokens(key: bytes) -> _Tokens:
    return _Tokens(key)


def blind_token(key: bytes, root: str) -> str:
    return _tokens(key).of_root(root)


def _matched_roots(word: str) -> list[str]:
    """Every root a query can hold that keyword matching would find in `word` (see the module's
    docstring)."""
    shortest = max(2, len(word) - 2)
    return [
        word[:n]
        for n in range(min(shortest, MIN_ROOT), len(word) + 1)
        if n >= MIN_ROOT or (n >= shortest and word[:n] not in STOPWORDS)
    ]


def blind_text(key: bytes, text: str) -> str:
    """The text as the blind tokens of the roots that find each of its words, in order."""
    return _tokens(key).of_words(WORD.findall(text.lower()))


def legacy_token(key: bytes, root: str) -> str:
    """The root's token in the blind index of a store encrypted before `BLIND_INDEX` 2: HMAC-SHA256 as
    12 decimal digits. Queries of such a store ask for both tokens of each term, so that the memories
    it holds keep being found beside those written since."""
    digest = hmac.digest(key, root.encode("utf-8"), "sha256")
    return f"{int.from_bytes(digest[:8], 'big') % 10**12:012d}"


def blind_terms(key: bytes, terms: list[str], *, legacy: bool = False) -> dict[str, str]:
    """Each keyword term (`relevance.keyword_terms`) by its blind token (by both its tokens with
    `legacy`, see `legacy_token`)."""
    blinded = {blind_token(key, word_root(term)): term for term in terms}
    if legacy:
        blinded.update({legacy_token(key, word_root(term)): term for term in terms})
    return blinded


def blind_query(key: bytes, query: str, *, legacy: bool = False) -> str:
    return " ".join(blind_terms(key, keyword_terms(query), legacy=legacy))


def blind_hash(key: bytes, content_hash: str) -> str:
    return hmac.digest(key, b"hash|" + content_hash.encode("utf-8"), "sha256").hex()


def _value_bytes(value: Any) -> bytes:
    # numbers compare by value, as SQL's json_extract does (1 == 1.0); booleans stay apart from them
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = float(value)
    return json.dumps(value, sort_keys=True).encode("utf-8")


@lru_cache(maxsize=65536)
def blind_metadata_key(key: bytes, name: str) -> str:
    # 12 decimal digits, as the first blind index wrote them: stored metadata keeps matching its filters
    digest = hmac.digest(key, b"metadata key|" + name.encode("utf-8"), "sha256")
    return f"m{int.from_bytes(digest[:8], 'big') % 10**12:012d}"


def blind_metadata_value(key: bytes, name: str, value: Any) -> str:
    message = b"metadata value|" + name.encode("utf-8") + b"|" + _value_bytes(value)
    return hmac.digest(key, message, "sha256")[:16].hex()


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
