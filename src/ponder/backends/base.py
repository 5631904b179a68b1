"""The Generator protocol: everything a strategy may ask of a model.

A strategy submits one prompt (text, or chat messages) with sampling parameters and gets its samples back.
Every generator counts the tokens it spent. The streaming, abort and scoring parts of the protocol come with
the local engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from ponder.engine.sampling_params import SamplingParams

__all__ = ["FinishReason", "Generation", "Generator", "Prompt", "Sample", "SamplingParams", "TokenUsage",
           "prompt_text"]

Prompt = str | list[dict]
FinishReason = Literal["stop", "length"]


def prompt_text(tokenizer, prompt: Prompt) -> str:
    """A text prompt as it is, or chat messages rendered with the model's chat template."""
    if isinstance(prompt, str):
        return prompt
    return tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)


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
