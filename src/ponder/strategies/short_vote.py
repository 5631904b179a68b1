"""short-vote: short-m@k (Hassid et al., 2025, "Don't Overthink It"). k = `budget` samples run in parallel; the
first m to finish are kept and the rest aborted at that moment (`keep_first`: ponder's engine aborts them in the
very step the m-th finishes), and the m vote (ties: the answer of the shortest thinking). For a thinking model
"finish" is the paper's: the end of its thinking (its end marker written); the m then write their answers, and
ties go to the fewest reasoning tokens. For a model that does not think, the first m samples to stop (end of
sequence or a stop string, not the token limit) are kept, and ties go to the shortest trace. A sample that ends
inside its thinking (cut off, or stopped) is not kept."""

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
    traces, ended, finished = Traces(), [], {}
    async with Events() as events:  # the generator aborts the rest once m have ended (keep_first)
        events.add(await session.submit(config.budget, keep_first=m))
        async for stream, event in events:
            key = traces.add(stream, event)
            if key not in ended and traces.ended(key, event):
                ended.append(key)
            if event.finished and event.finish_reason != "abort":
                finished[key] = session.candidate(traces.sample(key, event))
    kept = [key for key in ended if key in finished][:m]
    candidates = [finished[key] for key in kept]
    groups = tally(candidates)
    answer = None
    if groups:
        tied = [v.answer for v in groups if v.weight == groups[0].weight]
        shortest = min((c for c in candidates if any(equivalent(c.answer, a) for a in tied)),
                       key=lambda c: (c.reasoning_tokens, c.tokens))
        answer = next(a for a in tied if equivalent(shortest.answer, a))
    return session.result(answer, candidates, "first_m_finished" if len(candidates) == m else "budget",
                          vote_counts(candidates), m=m)
