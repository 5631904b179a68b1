"""first-finish: First Finish Search (Agarwal et al., 2025). `budget` samples run in parallel; the first to
finish answers and the rest are aborted at once (`keep_first=1`: ponder's engine aborts them in the very step it
finishes): shorter traces are more often right. For a thinking model "finish" is the paper's: the first trace to
end its thinking (its end marker written) wins, every other sample is aborted at that moment, and the winner goes
on to write its answer. For a model that does not think, the first sample to finish (end of sequence or a stop
string, not the token limit) wins. If every sample hits the token limit first (or ends inside its thinking), the
first of those answers."""

from __future__ import annotations

from ponder.backends.base import Generator
from ponder.strategies.base import (Events, NoOptions, Problem, Result, Session, StrategyConfig, Traces,
                                    vote_counts)
from ponder.verifiers.base import Verifier


async def run(problem: Problem, generator: Generator, verifier: Verifier | None, config: StrategyConfig) -> Result:
    config.parse(NoOptions, "first-finish")
    session = Session("first-finish", problem, generator, config)
    traces, candidates, ended = Traces(), {}, []
    async with Events() as events:  # the generator aborts the rest once one has ended (keep_first)
        events.add(await session.submit(config.budget, keep_first=1))
        async for stream, event in events:
            key = traces.add(stream, event)
            if key not in ended and traces.ended(key, event):
                ended.append(key)
            if event.finished and event.finish_reason != "abort":
                candidates[key] = session.candidate(traces.sample(key, event))
    winner = next((key for key in ended if key in candidates), None)
    first = candidates[winner] if winner is not None else next(iter(candidates.values()))
    return session.result(first.answer, list(candidates.values()), "first_finished" if winner is not None else
                          "length", vote_counts(list(candidates.values())), winner_tokens=first.tokens,
                          winner_reasoning_tokens=first.reasoning_tokens)
