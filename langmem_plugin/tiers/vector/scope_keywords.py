"""In-memory keyword statistics of one small scope: document counts, occurrences and BM25 ranking
without FTS5.

A scope of a few hundred memories (one user's) is searched faster by scanning its lower-cased
texts once per query term than by several FTS5 queries. Terms match exactly as keyword coverage
matches them (`relevance.term_matches`: the word or an inflection of its root), so the document
counts, IDF weights and the memories found for each word are those `relevance.rank` weighs; BM25
uses the scope's own statistics (FTS5's uses the whole table's, every user's).
"""

from __future__ import annotations

import re

import numpy as np

from .relevance import MIN_ROOT, idf, word_root

MAX_CACHED_TERMS = 512  # query terms whose occurrences are kept per scope
TERM_ENTRY_BYTES = 300  # a cached term's key, tuple and array headers, roughly

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
    """The text with a space for every non-word character and one in front: a word starts right
    after a space, so an occurrence at a word start is one of " " + root, found by str.find."""
    spaced = text.translate(_ASCII_NON_WORD)
    if not spaced.isascii():  # the regex only where the fast table cannot decide
        spaced = _NON_WORD.sub(" ", spaced)
    return " " + spaced


def _word_starts(spaced: str, term: str) -> list[int]:
    """Where `term_pattern(term)` matches in the text that `spaced` (see `spaced_words`) was made
    from, as positions in that text: each occurrence of the term's root at a word start, followed
    by at most two more word characters when the root is short. Found with str.find rather than by
    compiling the pattern: most query terms are new to a scope, and compiling costs more than
    scanning a user's texts."""
    root = word_root(term)
    needle = " " + root
    after = len(needle)
    short = len(root) < MIN_ROOT
    starts = []
    at = spaced.find(needle)
    while at != -1:
        # the needle's space is the text's character before the match: `at` is the match's position
        # in the text
        if not short or " " in spaced[at + after : at + after + 3] or at + after + 3 > len(spaced):
            starts.append(at)
        at = spaced.find(needle, at + after)
    return starts


class ScopeKeywords:
    """The scope's texts as one lower-cased string (words only, see `spaced_words`), each text's start
    and length in words.

    Documents are numbered in the order given (the DenseIndex positions of the scope's rows at
    build time); the owner extends it when the scope only gained rows and builds it again when
    rows changed or moved.
    """

    def __init__(self, texts: list[str]):
        self._spaced = " "
        self._starts = _NO_DOCUMENTS
        self._words = _NO_FREQUENCIES
        self._found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._found_bytes = 0
        self._append(texts)

    def extended(self, texts: list[str]) -> ScopeKeywords:
        """These statistics with `texts` as further documents, numbered on from the last: what a
        scope that only gained rows needs, without lowering and scanning its old texts again."""
        longer = ScopeKeywords([])
        longer._spaced, longer._starts, longer._words = self._spaced, self._starts, self._words
        longer._append(texts)
        return longer

    def _append(self, texts: list[str]) -> None:
        lowered = [t.lower() for t in texts]
        if lowered:
            # documents are joined by newlines and spaced character by character (the old part stays as
            # it was); a position in the joined texts is one less than in the spaced copy, which starts
            # with a space
            joined = "\n".join(lowered)
            if len(self._starts):
                first = len(self._spaced)  # the old texts, then the newline
                self._spaced += spaced_words("\n" + joined)[1:]
            else:
                first = 0
                self._spaced = spaced_words(joined)
            offsets = np.cumsum([0] + [len(t) + 1 for t in lowered[:-1]], dtype=np.int64)
            self._starts = np.concatenate([self._starts, first + offsets])
            # BM25's length normalisation is in whitespace-separated words: cheaper than the tokenizer
            # and as proportional
            self._words = np.concatenate(
                [
                    self._words,
                    np.fromiter((len(t.split()) for t in lowered), dtype=np.float64, count=len(lowered)),
                ]
            )
        # the same for every query; the mean length changes with every added document
        self._norm = BM25_K1 * (
            1.0
            - BM25_B
            + BM25_B * self._words / max(float(self._words.mean()) if len(self._words) else 0.0, 1e-9)
        )

    def __len__(self) -> int:
        return len(self._starts)

    @property
    def nbytes(self) -> int:
        return (
            len(self._spaced)
            + self._starts.nbytes
            + self._words.nbytes
            + self._norm.nbytes
            + self._found_bytes
        )

    def occurrences(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """Documents containing an inflection of the term, and how often each does (cached per term)."""
        found = self._found.get(term)
        if found is None:
            starts = _word_starts(self._spaced, term)
            if starts:
                per_document = np.bincount(np.searchsorted(self._starts, starts, side="right") - 1)
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
