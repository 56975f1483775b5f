"""Splitting a long text into overlapping windows of tokens, given the character span of each token."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

Span = tuple[int, int]
"""A token's character offsets ``[start, end)`` in the text."""

PIECE_CHARS = 4_000
"""Long texts are tokenized piece by piece (cut at whitespace), and only as far as the chunks that are kept."""
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Chunks:
    """The chunk texts of one document; ``truncated`` when the text went on past ``max_chunks`` chunks."""

    texts: list[str]
    truncated: bool = False


def chunk_text(text: str, token_spans: Callable[[list[str]], list[list[Span]]], size: int, overlap: int,
               max_chunks: int) -> Chunks:
    """Windows of ``size`` tokens, each starting ``size - overlap`` tokens after the previous one, as the text
    between the first and last token of the window (so chunks are slices of ``text``, whatever its script)."""
    if not text.strip():
        return Chunks([])
    step = size - overlap
    needed = size + step * (max_chunks - 1) + 1
    spans, complete = _spans(text, token_spans, needed)
    if not spans:
        return Chunks([])
    starts = range(0, max(len(spans) - overlap, 1), step)
    texts = [text[spans[start][0]:spans[min(start + size, len(spans)) - 1][1]] for start in starts]
    return Chunks(texts[:max_chunks], truncated=len(texts) > max_chunks or not complete)


def _spans(text: str, token_spans: Callable[[list[str]], list[list[Span]]], needed: int) -> tuple[list[Span], bool]:
    """Token spans of ``text`` up to ``needed`` tokens; True when the whole text was tokenized."""
    spans: list[Span] = []
    for start, piece in _pieces(text):
        spans.extend((start + a, start + b) for a, b in token_spans([piece])[0])
        if len(spans) >= needed:
            return spans[:needed], False
    return spans, True


def _pieces(text: str) -> Iterator[tuple[int, str]]:
    start = 0
    while start < len(text):
        end = min(start + PIECE_CHARS, len(text))
        if end < len(text):
            cut = text.rfind(" ", start + PIECE_CHARS // 2, end)
            end = cut + 1 if cut > 0 else end
        yield start, text[start:end]
        start = end


def word_spans(texts: Sequence[str]) -> list[list[Span]]:
    """Whitespace-separated words as tokens (for embedders without a tokenizer of their own)."""
    return [[match.span() for match in _WORD.finditer(text)] for text in texts]
