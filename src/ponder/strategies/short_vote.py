"""short-vote: short-m@k (Hassid et al., 2025, "Don't Overthink It"). k = `budget` samples run in parallel;
once the first m have finished the rest are aborted, and the m vote (ties: the answer of the shortest trace)."""

from __future__ import annotations

from dataclasses import dataclass

from ponder.backends.base import Generator
from ponder.errors import InvalidArgumentError
from ponder.strategies.base import Events, Problem, Result, Session, StrategyConfig, Traces, tally, vote_counts
from ponder.verifiers.answer import equivalent
from ponder.verifiers.base import Verifier


@dataclass(frozen=True)
class Options:
    m: int = 3

    def check(self):
        if self.m < 1:
            raise InvalidArgumentError(f"short-vote m={self.m} must be >= 1")


async def run(problem: Problem, generator: Generator, verifier: Verifier | None, config: StrategyConfig) -> Result:
    options = config.parse(Options, "short-vote")
    m = min(options.m, config.budget)
    session = Session("short-vote", problem, generator, config)
    traces, candidates = Traces(), []
    async with Events() as events:
        events.add(await session.submit(config.budget))
        async for stream, event in events:
            key = traces.add(stream, event)
            if event.finished and event.finish_reason != "abort" and len(candidates) < m:
                candidates.append(session.candidate(traces.sample(key, event)))
                if len(candidates) == m:
                    await events.abort()
    groups = tally(candidates)
    answer = None
    if groups:
        tied = [v.answer for v in groups if v.weight == groups[0].weight]
        shortest = min((c for c in candidates if any(equivalent(c.answer, a) for a in tied)), key=lambda c: c.tokens)
        answer = next(a for a in tied if equivalent(shortest.answer, a))
    return session.result(answer, candidates, "first_m_finished" if len(candidates) == m else "budget",
                          vote_counts(candidates), m=m)
