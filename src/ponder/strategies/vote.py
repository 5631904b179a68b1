"""vote: self-consistency (Wang et al., 2022). Draw `budget` samples and answer with the most frequent extracted
answer (equivalent answers pooled); ties go to the answer whose samples have the higher summed logprob."""

from __future__ import annotations

from ponder.backends.base import Generator
from ponder.strategies.base import NoOptions, Problem, Result, Session, StrategyConfig, majority
from ponder.verifiers.base import Verifier


async def run(problem: Problem, generator: Generator, verifier: Verifier | None, config: StrategyConfig,
              strategy: str = "vote", **changes) -> Result:
    """`changes`: to the configured sampling of every sample (nothink-vote's enable_thinking=False)."""
    config.parse(NoOptions, strategy)
    session = Session(strategy, problem, generator, config)
    candidates = [session.candidate(s) for s in await (await session.submit(config.budget, **changes)).collect()]
    answer, votes = majority(candidates)
    return session.result(answer, candidates, "budget" if answer is not None else "no_answer", votes)
