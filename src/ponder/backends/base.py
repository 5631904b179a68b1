"""The Generator protocol: everything a strategy may ask of a model.

A strategy submits one prompt (text, or chat messages) with sampling parameters and gets its samples back.
Every generator counts the tokens it spent. The streaming, abort and scoring parts of the protocol come with
the local engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from ponder.errors import InvalidArgumentError

Prompt = str | list[dict]
FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. temperature 0 means greedy; top_k 0 and top_p 1 mean no truncation."""

    n: int = 1
    temperature: float = 0.7
    top_p: float = 1.0
    top_k: int = 0
    max_tokens: int = 256
    stop: tuple[str, ...] = ()

    def __post_init__(self):
        if self.n < 1:
            raise InvalidArgumentError(f"n={self.n} must be >= 1")
        if self.max_tokens < 1:
            raise InvalidArgumentError(f"max_tokens={self.max_tokens} must be >= 1")
        if self.temperature < 0:
            raise InvalidArgumentError(f"temperature={self.temperature} must be >= 0")
        if not 0 < self.top_p <= 1:
            raise InvalidArgumentError(f"top_p={self.top_p} must be in (0, 1]")
        if self.top_k < 0:
            raise InvalidArgumentError(f"top_k={self.top_k} must be >= 0")


@dataclass
class Sample:
    """One finished sample: its text, why it stopped, its length and its summed token logprob under the model."""

    text: str
    finish_reason: FinishReason
    tokens: int
    logprob: float


@dataclass
class TokenUsage:
    prompt: int = 0
    generated: int = 0

    def add(self, other: TokenUsage) -> None:
        self.prompt += other.prompt
        self.generated += other.generated


@dataclass
class Generation:
    """The samples of one request and the tokens that request cost."""

    samples: list[Sample]
    usage: TokenUsage = field(default_factory=TokenUsage)


class Generator(Protocol):
    """A model that samples. Implementations: TransformersGenerator (batched `generate`); more to come."""

    name: str
    usage: TokenUsage  # everything spent since construction

    async def generate(self, prompt: Prompt, params: SamplingParams) -> Generation: ...
