"""Incremental detokenization: the text each new token adds, without decoding the whole sample every step.

Decoding a token alone is wrong for tokenizers that merge across tokens (byte-fallback pieces of one UTF-8
character, SentencePiece spaces), so each step decodes a short window that starts a few tokens back and keeps
only what the window adds beyond the text already emitted, as vLLM does. An incomplete UTF-8 character
("\\ufffd" at the end) is held back until its last byte arrives.
"""

from __future__ import annotations

CONTEXT = 5  # tokens of left context for the first window


class Detokenizer:
    def __init__(self, tokenizer, context_ids: list[int]):
        self.tokenizer = tokenizer
        self.ids = list(context_ids[-CONTEXT:])
        self.prefix_offset = 0
        self.read_offset = len(self.ids)

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def add(self, token_ids: list[int], final: bool = False) -> str:
        """Append tokens; returns the text they complete (with `final`, everything not yet emitted)."""
        self.ids.extend(token_ids)
        prefix_text = self._decode(self.ids[self.prefix_offset:self.read_offset])
        new_text = self._decode(self.ids[self.prefix_offset:])
        if len(new_text) <= len(prefix_text) or (new_text.endswith("\ufffd") and not final):
            return ""
        self.prefix_offset, self.read_offset = self.read_offset, len(self.ids)
        return new_text[len(prefix_text):]
