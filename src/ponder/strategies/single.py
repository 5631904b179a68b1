"""single: one sample, greedy at temperature 0 or sampled otherwise; the budget beyond one is not spent."""

from __future__ import annotations

from ponder.backends.base import Generator
from ponder.strategies.base import NoOptions, Problem, Result, Session, StrategyConfig, vote_counts
from ponder.verifiers.base import Verifier


async def run(problem: Problem, generator: Generator, verifier: Verifier | None, config: StrategyConfig) -> Result:
    config.parse(NoOptions, "single")
    session = Session("single", problem, generator, config)
    [sample] = await (await session.submit(1)).collect()
    candidate = session.candidate(sample)
    return session.result(candidate.answer, [candidate], "sampled", vote_counts([candidate]))
