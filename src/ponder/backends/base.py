"""The Generator protocol: everything a strategy may ask of a model.

A strategy submits one prompt (text, or chat messages) with sampling parameters and gets its samples back.
Every generator counts the tokens it spent. The streaming, abort and scoring parts of the protocol come with
the local engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from ponder.engine.sampling_params import SamplingParams

__all__ = ["FinishReason", "Generation", "Generator", "Prompt", "Sample", "SamplingParams", "TokenUsage"]

Prompt = str | list[dict]
FinishReason = Literal["stop", "length"]


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
    """A model that samples. Implementations: LocalGenerator (ponder's engine), TransformersGenerator (batched `generate`)."""

    name: str
    usage: TokenUsage  # everything spent since construction

    async def generate(self, prompt: Prompt, params: SamplingParams) -> Generation: ...
