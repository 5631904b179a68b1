"""A request (one prompt, n samples) and its samples (`Sequence`: one batch row each while running). Plain
Python: no tensors here, so the scheduler can be tested with exact asserts."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from ponder.sampling import FinishReason, SamplingParams

_seq_ids = itertools.count()


class Sequence:
    """One sample of a request. While it runs it owns one row of the batch's KV cache, holding the KV of every
    token but its last: that one (`last_token`) is the input of its next decode step.

    A request of n samples holds n of these from the start, so each is kept small (slots, no tensors): the
    samples that wait for a row cost a few hundred bytes each."""

    __slots__ = ("seq_id", "request", "index", "seed", "token_ids", "logprob_sum", "text", "sent", "_finish_reason",
                 "thinking", "reasoning", "forced", "ended")

    def __init__(self, request: Request, index: int, seed: int):
        self.seq_id = next(_seq_ids)
        self.request = request
        self.index = index
        self.seed = seed
        self.token_ids: list[int] = []  # generated so far
        self.logprob_sum = 0.0
        self.text = ""
        self.sent = 0  # characters of `text` its events carried (the rest may begin a stop string)
        self._finish_reason: FinishReason | None = None
        self.thinking = False  # inside its think block (engine/thinking.py)
        self.reasoning = 0  # reasoning tokens taken
        self.forced: tuple[int, ...] = ()  # tokens the engine writes next in the model's place
        self.ended = False  # one of the first `keep_first` samples to end (SamplingParams.keep_first)

    @property
    def finish_reason(self) -> FinishReason | None:
        return self._finish_reason

    @finish_reason.setter
    def finish_reason(self, reason: FinishReason | None) -> None:
        # the request counts its unfinished samples here, the one place a sample finishes, so that
        # `Request.finished` is O(1) for a request of 100,000 samples
        if self._finish_reason is None and reason is not None:
            self.request.unfinished -= 1
        self._finish_reason = reason

    @property
    def params(self) -> SamplingParams:
        return self.request.params

    @property
    def num_tokens(self) -> int:
        return len(self.request.prompt_ids) + len(self.token_ids)

    @property
    def generated(self) -> int:
        return len(self.token_ids)

    @property
    def last_token(self) -> int:
        return self.token_ids[-1] if self.token_ids else self.request.prompt_ids[-1]

    @property
    def all_token_ids(self) -> list[int]:
        return self.request.prompt_ids + self.token_ids

    @property
    def finished(self) -> bool:
        return self._finish_reason is not None

    def __repr__(self) -> str:
        return f"Sequence(request={self.request.request_id}, index={self.index}, tokens={len(self.token_ids)})"


@dataclass
class Request:
    """One prompt and the samples drawn from it. Its samples join the batch in index order, as many at a time
    as there is room for (`admitted`: how many have joined or were aborted before they could).

    Args:
        max_length: the most tokens one of its samples can reach (prompt + max_tokens, or the model's context
            if that is shorter): the KV columns the scheduler reserves for each of its rows.
    """

    request_id: int
    prompt_ids: list[int]
    params: SamplingParams
    seeds: list[int]
    max_length: int = 0
    seqs: list[Sequence] = field(default_factory=list, repr=False)
    admitted: int = 0
    unfinished: int = 0
    ended: int = 0  # samples that have ended, for SamplingParams.keep_first

    def __post_init__(self):
        self.max_length = self.max_length or len(self.prompt_ids) + self.params.max_tokens
        self.unfinished = len(self.seeds)
        self.seqs = [Sequence(self, i, seed) for i, seed in enumerate(self.seeds)]

    @property
    def finished(self) -> bool:
        return self.unfinished == 0

    def admit(self, rows: int) -> list[Sequence]:
        """Its next `rows` samples that wait for a row (fewer if fewer wait); those aborted while they waited
        are passed over."""
        joining = []
        while len(joining) < rows and self.admitted < len(self.seqs):
            seq = self.seqs[self.admitted]
            self.admitted += 1
            if not seq.finished:
                joining.append(seq)
        return joining

    @property
    def unadmitted(self) -> int:
        """Its samples that have not joined the batch yet (none once it has finished), for /metrics."""
        return 0 if self.finished else len(self.seqs) - self.admitted

    @property
    def waiting(self) -> bool:
        """Whether a sample of it still waits for a row (not counting those aborted while they waited)."""
        return any(not self.seqs[i].finished for i in range(self.admitted, len(self.seqs)))
