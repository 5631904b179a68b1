"""Incremental detokenization: the text each new token adds, without decoding the whole sample every step.

Decoding a token alone is wrong for tokenizers that merge across tokens (byte-fallback pieces of one UTF-8
character, SentencePiece spaces), so the text a token adds is what decoding a short window that starts a few
tokens back adds beyond the window without it, as vLLM does. An incomplete UTF-8 character is held back until
its last byte arrives. A fast tokenizer does this in Rust (`tokenizers`' DecodeStream, which vLLM uses too):
4 us a token against 29 us for two windows decoded through transformers (measured on the shipped tokenizer),
which at 64 rows is a tenth of a decode step of the embedded model.
"""

from __future__ import annotations

from tokenizers.decoders import DecodeStream

CONTEXT = 5  # tokens of left context for the first window


class Detokenizer:
    def __init__(self, tokenizer, context_ids: list[int]):
        self.tokenizer = tokenizer
        self.ids = list(context_ids[-CONTEXT:])
        self.prefix_offset = 0  # the window starts here...
        self.read_offset = len(self.ids)  # ...and the text of the tokens before this is out
        self.backend = getattr(tokenizer, "backend_tokenizer", None)
        self.stream = None
        if self.backend is not None:
            self.stream = DecodeStream(skip_special_tokens=True)
            self._stream(0)  # the context: what the first token follows (its text is not emitted)
            self.read_offset = len(self.ids)

    def _stream(self, start: int) -> str:
        """The text that the tokens from `start` on complete, through the stream; the read offset follows the
        last token whose text is out. Where the stream fails, windows take over from there."""
        pieces = []
        try:
            for k in range(start, len(self.ids)):
                piece = self.stream.step(self.backend, self.ids[k])
                if piece is not None:  # None: the token ends inside a character, which waits for its last byte
                    pieces.append(piece)
                    self.read_offset = k + 1
        except Exception:  # tokenizers raises on some added-token prefixes (vLLM resets there as well)
            self.stream = None
        self.prefix_offset = max(self.read_offset - CONTEXT, 0)
        return "".join(pieces)

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def add(self, token_ids: list[int], final: bool = False) -> str:
        """Append tokens; returns the text they complete (with `final`, everything not yet emitted)."""
        self.ids.extend(token_ids)
        text = ""
        if self.stream is not None:
            text = self._stream(len(self.ids) - len(token_ids))
            if self.read_offset == len(self.ids) or (self.stream is not None and not final):
                return text
        # the last tokens by windows: where the stream failed, or at the end (an incomplete character is out too)
        prefix_text = self._decode(self.ids[self.prefix_offset:self.read_offset])
        new_text = self._decode(self.ids[self.prefix_offset:])
        if len(new_text) <= len(prefix_text) or (new_text.endswith("\ufffd") and not final):
            return text
        self.prefix_offset, self.read_offset = self.read_offset, len(self.ids)
        return text + new_text[len(prefix_text):]
