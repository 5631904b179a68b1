"""How to sample: one frozen object per request, validated once at construction (nothing re-checks it later)."""

from __future__ import annotations

from dataclasses import dataclass

from ponder.errors import InvalidArgumentError


@dataclass(frozen=True)
class SamplingParams:
    """Args:
        n: samples drawn from the prompt (its KV is computed once and shared by all of them).
        temperature: 0 is greedy.
        top_p, top_k, min_p: truncation of the distribution; 1, 0 and 0 turn each off.
        max_tokens: the most tokens generated per sample.
        stop: strings that end a sample (found in the decoded text, across token boundaries; not returned).
        seed: makes a request's samples reproducible when it runs alone (each sample gets its own stream).
        logprobs: how many of the most likely tokens to report at each step (the chosen one always is).
        step_delimiter: a string (say "\\n") whose appearance in the text ends a reasoning step: the sample's
            event then carries `step_end=True`, so a strategy can act between steps.
        ignore_eos: go on past the end-of-sequence token (for benchmarks of a fixed length).
    """

    n: int = 1
    temperature: float = 0.7
    top_p: float = 1.0
    top_k: int = 0
    min_p: float = 0.0
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = None
    logprobs: int = 0
    step_delimiter: str | None = None
    ignore_eos: bool = False

    def __post_init__(self):
        if isinstance(self.stop, str):  # a lone string is one stop string, not a tuple of characters
            object.__setattr__(self, "stop", (self.stop,))
        checks = [
            (self.n >= 1, f"n={self.n} must be >= 1"),
            (self.max_tokens >= 1, f"max_tokens={self.max_tokens} must be >= 1"),
            (self.temperature >= 0, f"temperature={self.temperature} must be >= 0"),
            (0 < self.top_p <= 1, f"top_p={self.top_p} must be in (0, 1]"),
            (self.top_k >= 0, f"top_k={self.top_k} must be >= 0"),
            (0 <= self.min_p < 1, f"min_p={self.min_p} must be in [0, 1)"),
            (self.logprobs >= 0, f"logprobs={self.logprobs} must be >= 0"),
            (all(isinstance(s, str) and s for s in self.stop), f"stop={self.stop!r} must be non-empty strings"),
            (self.step_delimiter is None or self.step_delimiter != "", "step_delimiter must not be empty"),
        ]
        for ok, message in checks:
            if not ok:
                raise InvalidArgumentError(message)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0
