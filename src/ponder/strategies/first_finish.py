"""first-finish: First Finish Search (Agarwal et al., 2025). `budget` samples run in parallel; the first to
finish (end of sequence or a stop string, not the token limit) answers and the rest are aborted at once:
shorter traces are more often right. If every sample hits the token limit, the first of those answers."""

from __future__ import annotations

from ponder.backends.base import Generator
from ponder.strategies.base import (Events, NoOptions, Problem, Result, Session, StrategyConfig, Traces,
                                    vote_counts)
from ponder.verifiers.base import Verifier


async def run(problem: Problem, generator: Generator, verifier: Verifier | None, config: StrategyConfig) -> Result:
    config.parse(NoOptions, "first-finish")
    session = Session("first-finish", problem, generator, config)
    traces, candidates, winner = Traces(), [], None
    async with Events() as events:
        events.add(await session.submit(config.budget))
        async for stream, event in events:
            key = traces.add(stream, event)
            if event.finished and event.finish_reason != "abort":
                candidates.append(session.candidate(traces.sample(key, event)))
                if event.finish_reason == "stop" and winner is None:
                    winner = candidates[-1]
                    await events.abort()
    winner = winner or candidates[0]
    return session.result(winner.answer, candidates, "first_finished" if winner.finish_reason == "stop" else
                          "length", vote_counts(candidates), winner_tokens=winner.tokens)
