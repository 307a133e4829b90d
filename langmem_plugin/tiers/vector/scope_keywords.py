"""In-memory keyword statistics of one small scope: document counts, occurrences and BM25 ranking
without FTS5.

A scope of a few hundred memories (one user's) is searched faster from its vocabulary than by
several FTS5 queries: each distinct word with the documents it occurs in, the words sorted, so that
the words a query term matches (`relevance.term_matches`: the word or an inflection of its root,
that is the words starting with its root) are one contiguous run found by bisection. The document
counts, IDF weights and the memories found for each word are those `relevance.rank` weighs; BM25
uses the scope's own statistics (FTS5's uses the whole table's, every user's).
"""

from __future__ import annotations

import re
from bisect import bisect_left

import numpy as np

from .relevance import MIN_ROOT, idf, word_root

MAX_CACHED_TERMS = 512  # query terms whose occurrences are kept per scope
TERM_ENTRY_BYTES = 300  # a cached term's key, tuple and array headers, roughly
WORD_ENTRY_BYTES = 170  # a vocabulary word's string, list and dictionary slot headers, roughly

# BM25's usual constants, the ones FTS5's bm25() uses.
BM25_K1 = 1.2
BM25_B = 0.75


_NO_DOCUMENTS = np.zeros(0, dtype=np.int64)
_NO_FREQUENCIES = np.zeros(0, dtype=np.float64)
_NO_DOCUMENTS.flags.writeable = _NO_FREQUENCIES.flags.writeable = False  # shared by every scope's cache


# Every ASCII character that re's \w does not match (str.isalnum or the underscore), as a space.
_ASCII_NON_WORD = {c: " " for c in range(128) if not (chr(c).isalnum() or chr(c) == "_")}
_NON_WORD = re.compile(r"\W")


def spaced_words(text: str) -> str:
    """The text with a space for every non-word character: its words (the runs of word characters
    that relevance.WORD finds) are what str.split() returns."""
    spaced = text.translate(_ASCII_NON_WORD)
    if not spaced.isascii():  # the regex only where the fast table cannot decide
        spaced = _NON_WORD.sub(" ", spaced)
    return spaced


def _documents_of(words: dict[str, list[int]], vocabulary: list[str], term: str) -> list[int]:
    """The documents (one entry per occurrence) of the words `term_pattern(term)` matches: those
    starting with the term's root, with at most two more word characters when the root is short."""
    root = word_root(term)
    short = len(root) < MIN_ROOT
    found: list[int] = []
    at = bisect_left(vocabulary, root)
    while at < len(vocabulary) and vocabulary[at].startswith(root):
        word = vocabulary[at]
        if not short or len(word) - len(root) <= 2:
            found += words[word]
        at += 1
    return found


class ScopeKeywords:
    """The scope's vocabulary (each lower-cased word of its texts, see `spaced_words`, with the
    documents it occurs in), the words sorted, and each text's length in words.

    Documents are numbered in the order given (the DenseIndex positions of the scope's rows at
    build time); the owner extends it when the scope only gained rows and builds it again when
    rows changed or moved.
    """

    def __init__(self, texts: list[str]):
        self._words: dict[str, list[int]] = {}
        self._vocabulary: list[str] = []
        self._vocabulary_bytes = 0
        self._lengths = _NO_FREQUENCIES
        self._found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._found_bytes = 0
        self._append(texts)

    def extended(self, texts: list[str]) -> ScopeKeywords:
        """These statistics with `texts` as further documents, numbered on from the last: what a
        scope that only gained rows needs, without reading its old texts again. The vocabulary is
        shared: a word the new texts hold gets a new list, so this object's counts stay as they are."""
        longer = ScopeKeywords([])
        longer._words, longer._vocabulary = dict(self._words), self._vocabulary
        longer._vocabulary_bytes, longer._lengths = self._vocabulary_bytes, self._lengths
        longer._append(texts)
        return longer

    def _append(self, texts: list[str]) -> None:
        lowered = [t.lower() for t in texts]
        if lowered:
            first = len(self._lengths)
            added: dict[str, list[int]] = {}
            for document, text in enumerate(lowered, start=first):
                for word in spaced_words(text).split():
                    occurrences = added.get(word)
                    if occurrences is None:
                        added[word] = [document]
                    else:
                        occurrences.append(document)
            words = self._words
            new = [word for word in added if word not in words]
            for word, documents in added.items():
                held = words.get(word)
                words[word] = documents if held is None else held + documents
            if new:
                self._vocabulary = sorted([*self._vocabulary, *new])
            self._vocabulary_bytes += sum(len(w) + WORD_ENTRY_BYTES for w in new) + 8 * sum(
                map(len, added.values())
            )
            # BM25's length normalisation is in whitespace-separated words: cheaper than the tokenizer
            # and as proportional
            self._lengths = np.concatenate(
                [
                    self._lengths,
                    np.fromiter((len(t.split()) for t in lowered), dtype=np.float64, count=len(lowered)),
                ]
            )
        # the same for every query; the mean length changes with every added document
        self._norm = BM25_K1 * (
            1.0
            - BM25_B
            + BM25_B * self._lengths / max(float(self._lengths.mean()) if len(self._lengths) else 0.0, 1e-9)
        )

    def __len__(self) -> int:
        return len(self._lengths)

    @property
    def nbytes(self) -> int:
        return (
            self._vocabulary_bytes
            + 8 * len(self._vocabulary)
            + self._lengths.nbytes
            + self._norm.nbytes
            + self._found_bytes
        )

    def occurrences(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """Documents containing an inflection of the term, and how often each does (cached per term)."""
        found = self._found.get(term)
        if found is None:
            occurrences = _documents_of(self._words, self._vocabulary, term)
            if occurrences:
                per_document = np.bincount(occurrences)
                documents = np.flatnonzero(per_document)
                found = (documents, per_document[documents].astype(np.float64))
            else:  # most query terms: a name or word this user never used
                found = (_NO_DOCUMENTS, _NO_FREQUENCIES)
            if len(self._found) >= MAX_CACHED_TERMS:  # many distinct queries on an unchanged scope
                self._found.clear()
                self._found_bytes = 0
            self._found[term] = found
            self._found_bytes += found[0].nbytes + found[1].nbytes + TERM_ENTRY_BYTES
        return found

    def document_count(self, term: str) -> int:
        return len(self.occurrences(term)[0])

    def ranking(self, terms: list[str], allowed: np.ndarray, candidates: int) -> list[int]:
        """The `candidates` allowed documents with the best BM25 score for the terms, best first."""
        scores = np.zeros(len(self), dtype=np.float64)
        for term in terms:
            documents, frequency = self.occurrences(term)
            if len(documents):
                scores[documents] += (
                    idf(len(documents), len(self))
                    * frequency
                    * (BM25_K1 + 1.0)
                    / (frequency + self._norm[documents])
                )
        scores[~allowed] = 0.0
        matching = np.flatnonzero(scores > 0.0)
        if len(matching) > candidates:
            matching = matching[np.argpartition(-scores[matching], candidates - 1)[:candidates]]
        return matching[np.argsort(-scores[matching], kind="stable")].tolist()
