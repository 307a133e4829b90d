"""In-memory keyword statistics of one small scope: document counts, occurrences and BM25 ranking
without FTS5.

A scope of a few hundred memories (one user's) is searched faster in memory than by several FTS5
queries. Its first query terms are found by scanning its lower-cased texts once per term: building
anything costs more than the few searches most scopes get. A scope searched for more distinct terms
(`VOCABULARY_AFTER_TERMS`) gets its vocabulary: each word with the documents it occurs in, the words
sorted, so that the words a term matches are one contiguous run found by bisection, whatever the
length of the texts (a long user history, or the blind tokens of an encrypted store, several times
longer than the words). Terms match exactly as keyword coverage matches them
(`relevance.term_matches`: the word or an inflection of its root), so the document counts, IDF
weights and the memories found for each word are those `relevance.rank` weighs; BM25 uses the
scope's own statistics (FTS5's uses the whole table's, every user's).
"""

from __future__ import annotations

import re
from bisect import bisect_left

import numpy as np

from .relevance import MIN_ROOT, idf, word_root

MAX_CACHED_TERMS = 512  # query terms whose occurrences are kept per scope
TERM_ENTRY_BYTES = 300  # a cached term's key, tuple and array headers, roughly
WORD_ENTRY_BYTES = 170  # a vocabulary word's string, list and dictionary slot headers, roughly
# Distinct terms scanned in a scope before its vocabulary is built: building it costs about as much
# as scanning the texts for a few dozen terms (in Python, per word, against str.find per term)
VOCABULARY_AFTER_TERMS = 32

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
    after a space, so an occurrence at a word start is one of " " + root, found by str.find, and
    the words are what str.split() returns."""
    spaced = text.translate(_ASCII_NON_WORD)
    if not spaced.isascii():  # the regex only where the fast table cannot decide
        spaced = _NON_WORD.sub(" ", spaced)
    return " " + spaced


def _matches(word: str, root: str, short: bool) -> bool:
    """Whether `term_pattern` of a term with this root matches the word: it starts with the root,
    followed by at most two more word characters when the root is short."""
    return not short or len(word) - len(root) <= 2


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


class _Vocabulary:
    """Each word of a scope's texts with the documents it occurs in (one entry per occurrence), and
    the words sorted."""

    def __init__(self) -> None:
        self.words: dict[str, list[int]] = {}
        self.sorted: list[str] = []
        self.nbytes = 0

    def copy(self) -> _Vocabulary:
        """A vocabulary to extend while this one is still read: `add` gives a word it extends a new
        list, so this one's counts stay as they are."""
        copied = _Vocabulary()
        copied.words, copied.sorted, copied.nbytes = dict(self.words), self.sorted, self.nbytes
        return copied

    def add(self, documents: list[tuple[int, str]]) -> None:
        """Add each (document, its spaced words) of documents numbered after those held."""
        added: dict[str, list[int]] = {}
        for document, spaced in documents:
            for word in spaced.split():
                occurrences = added.get(word)
                if occurrences is None:
                    added[word] = [document]
                else:
                    occurrences.append(document)
        new = [word for word in added if word not in self.words]
        for word, found in added.items():
            held = self.words.get(word)
            self.words[word] = found if held is None else held + found
        if new:
            self.sorted = sorted([*self.sorted, *new])
        self.nbytes += sum(len(word) + WORD_ENTRY_BYTES for word in new) + 8 * sum(map(len, added.values()))

    def documents(self, term: str) -> list[int]:
        """The documents (one entry per occurrence) of the words `term_pattern(term)` matches."""
        root = word_root(term)
        short = len(root) < MIN_ROOT
        found: list[int] = []
        at = bisect_left(self.sorted, root)
        while at < len(self.sorted) and self.sorted[at].startswith(root):
            if _matches(self.sorted[at], root, short):
                found += self.words[self.sorted[at]]
            at += 1
        return found


class ScopeKeywords:
    """The scope's texts as one lower-cased string (words only, see `spaced_words`), each text's start
    and length in words, and, once the scope was searched for `VOCABULARY_AFTER_TERMS` distinct
    terms, its vocabulary.

    Documents are numbered in the order given (the DenseIndex positions of the scope's rows at
    build time); the owner extends it when the scope only gained rows and builds it again when
    rows changed or moved.
    """

    def __init__(self, texts: list[str]):
        self._spaced = " "
        self._starts = _NO_DOCUMENTS
        self._words = _NO_FREQUENCIES
        self._vocabulary: _Vocabulary | None = None
        self._scanned = 0  # distinct terms found by scanning
        self._found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._found_bytes = 0
        self._append(texts)

    def extended(self, texts: list[str]) -> ScopeKeywords:
        """These statistics with `texts` as further documents, numbered on from the last: what a
        scope that only gained rows needs, without lowering and scanning its old texts again."""
        longer = ScopeKeywords([])
        longer._spaced, longer._starts, longer._words = self._spaced, self._starts, self._words
        longer._vocabulary = None if self._vocabulary is None else self._vocabulary.copy()
        longer._scanned = self._scanned
        longer._append(texts)
        return longer

    def _append(self, texts: list[str]) -> None:
        lowered = [t.lower() for t in texts]
        if lowered:
            # documents are joined by newlines and spaced character by character (the old part stays as
            # it was); a position in the joined texts is one less than in the spaced copy, which starts
            # with a space
            joined = "\n".join(lowered)
            first_document = len(self._starts)
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
            if self._vocabulary is not None:
                self._vocabulary.add(self._spaced_documents(first_document))
        # the same for every query; the mean length changes with every added document
        self._norm = BM25_K1 * (
            1.0
            - BM25_B
            + BM25_B * self._words / max(float(self._words.mean()) if len(self._words) else 0.0, 1e-9)
        )

    def _spaced_documents(self, first: int) -> list[tuple[int, str]]:
        """Each document from `first` on with its part of the spaced text (a text starting at position
        p of the joined texts is at p + 1 of the spaced copy, up to the next one's separator)."""
        if first >= len(self._starts):
            return []
        ends = [*self._starts[first + 1 :].tolist(), len(self._spaced) - 1]
        return [
            (document, self._spaced[start + 1 : end + 1])
            for document, (start, end) in enumerate(
                zip(self._starts[first:].tolist(), ends, strict=True), start=first
            )
        ]

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
            + (0 if self._vocabulary is None else self._vocabulary.nbytes + 8 * len(self._vocabulary.sorted))
        )

    def _occurrences(self, term: str) -> list[int]:
        """The documents of the term, one entry per occurrence: from the vocabulary, else by a scan
        (the vocabulary is built once the scope has been scanned for enough terms)."""
        if self._vocabulary is None and self._scanned >= VOCABULARY_AFTER_TERMS:
            vocabulary = _Vocabulary()
            vocabulary.add(self._spaced_documents(0))
            self._vocabulary = vocabulary
        if self._vocabulary is not None:
            return self._vocabulary.documents(term)
        self._scanned += 1
        starts = _word_starts(self._spaced, term)
        return (np.searchsorted(self._starts, starts, side="right") - 1).tolist() if starts else []

    def occurrences(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """Documents containing an inflection of the term, and how often each does (cached per term)."""
        found = self._found.get(term)
        if found is None:
            occurrences = self._occurrences(term)
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
