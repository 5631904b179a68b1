"""beam: step-level beam search guided by a process verifier (as in Snell et al., 2024, and Hugging Face's
search-and-learn). `width` = budget / expansions partial solutions are kept; each round every one of them is
continued `expansions` ways by one reasoning step, the verifier scores every new step, and the best `width`
distinct partial solutions go on. A solution that ends leaves the search and its slot is not refilled, so the
search spends about `budget` full samples' worth. Every continuation shares its parent's prompt and steps
through the backend's prefix cache; only the new step is computed.

The answer is the best-scored finished solution (ties: the higher summed logprob).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ponder.backends.base import Generator
from ponder.errors import InvalidArgumentError
from ponder.strategies.base import (AGGREGATES, Partial, Problem, Result, Session, StrategyConfig,
                                    require, score_partials, vote_counts)
from ponder.verifiers.base import Verifier


@dataclass(frozen=True)
class Options:
    expansions: int = 4  # continuations per partial solution per step
    delimiter: str = "\n"  # what ends a reasoning step
    max_steps: int = 24
    aggregate: str = "min"  # a partial solution's score from its step scores: min (one bad step spoils it), last, mean

    def check(self):
        if self.expansions < 1 or self.max_steps < 1 or not self.delimiter:
            raise InvalidArgumentError("beam needs expansions >= 1, max_steps >= 1 and a non-empty delimiter")
        if self.aggregate not in AGGREGATES:
            raise InvalidArgumentError(f"beam aggregate={self.aggregate!r}; choose from {sorted(AGGREGATES)}")


def best(partials: list[Partial], k: int) -> list[Partial]:
    """The k best-scored partial solutions, one of each distinct text."""
    unique = {p.text: p for p in sorted(partials, key=lambda p: (p.score, p.logprob))}  # the best copy wins
    return sorted(unique.values(), key=lambda p: (p.score, p.logprob), reverse=True)[:k]


async def run(problem: Problem, generator: Generator, verifier: Verifier | None, config: StrategyConfig) -> Result:
    options = config.parse(Options, "beam")
    verifier = require(verifier, "beam", step=True)
    width = max(1, config.budget // options.expansions)
    session = Session("beam", problem, generator, config)
    beams, finished, depth = [Partial()], [], 0
    while beams and depth < options.max_steps:
        depth += 1
        children = [c for group in await asyncio.gather(
            *(session.expand(b, options.expansions, options.delimiter) for b in beams)) for c in group]
        await score_partials(problem, verifier, children, options.aggregate)
        finished += best([c for c in children if c.done], width - len(finished))
        beams = best([c for c in children if not c.done], width - len(finished))
    pool = finished or beams  # nothing finished within max_steps: the best unfinished ones answer
    candidates = [session.finished(p) for p in sorted(pool, key=lambda p: (p.score, p.logprob), reverse=True)]
    answer = candidates[0].answer if candidates else None
    return session.result(answer, candidates, "searched" if finished else "max_steps", vote_counts(candidates),
                          width=width, depth=depth, verifier=verifier.name)
