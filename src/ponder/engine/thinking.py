"""Thinking control: the engine writes a token in the model's place where a sample's thinking must end or go on.

    thinking_budget        the sample has thought that many tokens: the end marker (then the answer cue)
    answer reserve         only that many of max_tokens are left: the end marker, so the sample still answers
    min_thinking_tokens    the model ends its thinking too early: "Wait" instead, and it thinks on (s1)

The control rewrites the tokens a row is about to take (one, or several with speculative decoding) before they
are kept: a forced token replaces the drawn one, and what was drawn after it is dropped (it followed another
token), so the KV stays that of the tokens kept. A forced text of several tokens is queued and written one
token per step. The markers must be single tokens of the vocabulary (R1's, Qwen3's and ponder-arith-think's
are); reasoning tokens are those inside the think block, the markers not counted.
"""

from __future__ import annotations

import functools

from ponder.engine.request import Sequence
from ponder.errors import InvalidArgumentError
from ponder.reasoning import ReasoningMarkers
from ponder.sampling import SamplingParams

WAIT = "Wait"


class ThinkingControl:
    def __init__(self, tokenizer, markers: ReasoningMarkers | None):
        self.tokenizer = tokenizer
        self.markers = markers
        self.start = self.end = None
        if markers is not None:
            start, end = self.encode(markers.start), self.encode(markers.end)
            if len(start) == 1 and len(end) == 1:
                self.start, self.end = start[0], end[0]
        self.wait = self.encode(WAIT)

    @functools.lru_cache(maxsize=64)
    def encode(self, text: str) -> tuple[int, ...]:
        return tuple(self.tokenizer.encode(text, add_special_tokens=False)) if text else ()

    def check(self, params: SamplingParams) -> None:
        """Thinking control asked of a model that cannot be controlled is refused, not ignored (the answer
        reserve is a default, so it applies where it can)."""
        if self.end is None and (params.thinking_budget is not None or params.min_thinking_tokens):
            what = "thinking_budget" if params.thinking_budget is not None else "min_thinking_tokens"
            raise InvalidArgumentError(f"{what} needs a thinking model: this one has no reasoning markers that are "
                                       f"single tokens of its vocabulary (markers: {self.markers})")

    def begin(self, seq: Sequence) -> None:
        """A sample starts inside the think block where its prompt opened one (the chat template did)."""
        if self.end is not None:
            ids = seq.request.prompt_ids
            last = lambda token: max((i for i in range(len(ids) - 1, -1, -1) if ids[i] == token), default=-1)  # noqa: E731
            seq.thinking = last(self.start) > last(self.end)

    def after(self, thinking: bool, reasoning: int, token: int) -> tuple[bool, int]:
        """A sample's (thinking, reasoning tokens) once it has taken `token`."""
        if thinking:
            return (False, reasoning) if token == self.end else (True, reasoning + 1)
        return token == self.start, reasoning

    def apply(self, seq: Sequence, tokens: list[int]) -> list[int]:
        """The tokens `seq` takes instead of `tokens` (drawn in this step, in order)."""
        if self.end is None:
            return tokens
        params = seq.params
        reserve = params.reserve
        thinking, reasoning = seq.thinking, seq.reasoning
        for j, token in enumerate(tokens):
            forced = None
            if seq.forced:
                forced, seq.forced = seq.forced[0], seq.forced[1:]
            elif thinking and token != self.end and (
                    params.thinking_budget is not None and reasoning >= params.thinking_budget
                    or reserve and seq.generated + j >= params.max_tokens - reserve):
                forced, seq.forced = self.end, self.encode(params.answer_cue)
            elif thinking and token == self.end and reasoning < params.min_thinking_tokens:
                forced, seq.forced = self.wait[0], self.wait[1:]
            if forced is not None:
                return tokens[:j] + [forced]
            thinking, reasoning = self.after(thinking, reasoning, token)
        return tokens
