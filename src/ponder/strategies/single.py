"""single: one sample, greedy at temperature 0 or sampled otherwise; the budget beyond one is not spent."""

from __future__ import annotations

from ponder.backends.base import Generator
from ponder.strategies.base import Problem, Result, StrategyConfig, Timer, majority, sample_candidates


async def run(problem: Problem, generator: Generator, config: StrategyConfig) -> Result:
    timer = Timer()
    candidates, tokens = await sample_candidates(problem, generator, config.params(1))
    answer, votes = majority(candidates)
    return Result(answer, "single", config.budget, 1, tokens, timer(), "sampled", candidates, votes)
