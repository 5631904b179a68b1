"""A request (one prompt, n samples), its samples (`Sequence`: one batch row each while running) and the
events a sample emits. Plain Python: no tensors here, so the scheduler can be tested with exact asserts."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Literal

from ponder.engine.sampling_params import SamplingParams

FinishReason = Literal["stop", "length", "abort"]
_seq_ids = itertools.count()


@dataclass
class SampleEvent:
    """What one sample did in one engine step: the tokens it added (one, or several with speculative
    decoding), their text, the chosen tokens' logprobs (and the top ones if asked), whether a reasoning step
    ended, and once it is over, why (and which stop string, if one). Token counts are the sample's totals so far."""

    request_id: int
    index: int
    token_ids: list[int]
    text: str
    logprobs: list[float]
    top_logprobs: list[dict[int, float]] | None = None
    step_end: bool = False
    finish_reason: FinishReason | None = None
    prompt_tokens: int = 0
    generated_tokens: int = 0
    stop_string: str | None = None  # the stop string that ended the sample (None: EOS, length or abort)

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None


class Sequence:
    """One sample of a request. While it runs it owns one row of the batch's KV cache, holding the KV of every
    token but its last: that one (`last_token`) is the input of its next decode step."""

    def __init__(self, request: Request, index: int, seed: int, token_ids: list[int] | None = None):
        self.seq_id = next(_seq_ids)
        self.request = request
        self.index = index
        self.seed = seed
        self.token_ids: list[int] = list(token_ids or [])  # generated so far (a fork starts with its source's)
        self.inherited = len(self.token_ids)  # tokens a fork took over from its source: not spent again
        self.logprob_sum = 0.0
        self.text = ""
        self.finish_reason: FinishReason | None = None

    @property
    def params(self) -> SamplingParams:
        return self.request.params

    @property
    def num_tokens(self) -> int:
        return len(self.request.prompt_ids) + len(self.token_ids)

    @property
    def generated(self) -> int:
        """Tokens this sample itself generated."""
        return len(self.token_ids) - self.inherited

    @property
    def last_token(self) -> int:
        return self.token_ids[-1] if self.token_ids else self.request.prompt_ids[-1]

    @property
    def all_token_ids(self) -> list[int]:
        return self.request.prompt_ids + self.token_ids

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None

    def __repr__(self) -> str:
        return f"Sequence(request={self.request.request_id}, index={self.index}, tokens={len(self.token_ids)})"


@dataclass
class Request:
    """One prompt and the samples drawn from it. A fork is a request whose samples start from a running
    sample's tokens and KV (`fork_of`) instead of computing a prompt."""

    request_id: int
    prompt_ids: list[int]
    params: SamplingParams
    seeds: list[int]
    fork_of: Sequence | None = None
    seqs: list[Sequence] = field(default_factory=list)

    def __post_init__(self):
        start = self.fork_of.token_ids if self.fork_of else None
        self.seqs = [Sequence(self, i, seed, start) for i, seed in enumerate(self.seeds)]

    @property
    def finished(self) -> bool:
        return all(s.finished for s in self.seqs)
