"""What every strategy shares: its configuration, the candidates it drew and the Result it returns.

A strategy is `async def run(problem, generator, config) -> Result`. `budget` means the same everywhere: the
most full samples' worth of generation the strategy may spend on one problem.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

from ponder.backends.base import Generator, Prompt, SamplingParams
from ponder.errors import InvalidArgumentError


class Problem(Protocol):
    """What a strategy needs of a problem: its prompt, and how to read an answer out of a completion."""

    def messages(self) -> Prompt: ...
    def extract(self, text: str) -> Any: ...


@dataclass(frozen=True)
class StrategyConfig:
    """`budget`: the most full samples to spend on one problem. `sampling`: how each sample is drawn (its n is
    set by the strategy)."""

    budget: int = 1
    sampling: SamplingParams = SamplingParams()

    def __post_init__(self):
        if self.budget < 1:
            raise InvalidArgumentError(f"budget={self.budget} must be >= 1")

    def params(self, n: int) -> SamplingParams:
        return replace(self.sampling, n=n)


@dataclass
class Candidate:
    text: str
    answer: Any
    tokens: int
    finish_reason: str
    logprob: float


@dataclass
class Result:
    answer: Any
    strategy: str
    budget: int
    samples: int
    tokens: dict  # {"prompt": int, "generated": int}
    wall_s: float
    stop_reason: str
    candidates: list[Candidate]
    votes: dict = field(default_factory=dict)  # answer (as text) -> count

    def to_dict(self) -> dict:
        return asdict(self)


def majority(candidates: list[Candidate]) -> tuple[Any, dict]:
    """The most frequent extracted answer (ties: the higher summed logprob) and the tally; None if no answers."""
    counts = Counter(c.answer for c in candidates if c.answer is not None)
    if not counts:
        return None, {}
    logprob = Counter()
    for c in candidates:
        if c.answer is not None:
            logprob[c.answer] += c.logprob
    answer = max(counts, key=lambda a: (counts[a], logprob[a]))
    return answer, {str(a): n for a, n in counts.most_common()}


async def sample_candidates(problem: Problem, generator: Generator, params: SamplingParams
                            ) -> tuple[list[Candidate], dict]:
    """Sample, read each sample's answer; returns the candidates and the tokens they cost."""
    generation = await generator.generate(problem.messages(), params)
    candidates = [Candidate(s.text, problem.extract(s.text), s.tokens, s.finish_reason, s.logprob)
                  for s in generation.samples]
    return candidates, {"prompt": generation.usage.prompt, "generated": generation.usage.generated}


class Timer:
    def __init__(self):
        self.start = time.perf_counter()

    def __call__(self) -> float:
        return round(time.perf_counter() - self.start, 4)
