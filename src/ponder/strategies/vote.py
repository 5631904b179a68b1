"""vote: self-consistency (Wang et al., 2022). Draw `budget` samples and answer with the most frequent extracted
answer; ties go to the answer whose samples have the higher summed logprob."""

from __future__ import annotations

from ponder.backends.base import Generator
from ponder.strategies.base import Problem, Result, StrategyConfig, Timer, majority, sample_candidates


async def run(problem: Problem, generator: Generator, config: StrategyConfig) -> Result:
    timer = Timer()
    candidates, tokens = await sample_candidates(problem, generator, config.params(config.budget))
    answer, votes = majority(candidates)
    stop_reason = "budget" if answer is not None else "no_answer"
    return Result(answer, "vote", config.budget, len(candidates), tokens, timer(), stop_reason, candidates, votes)
