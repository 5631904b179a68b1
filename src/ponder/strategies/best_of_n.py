"""best-of-n: `budget` samples ranked by a verifier; the best-scored one answers (ties: the higher mean token
logprob)."""

from __future__ import annotations

from ponder.backends.base import Generator
from ponder.strategies.base import NoOptions, Problem, Result, Session, StrategyConfig, require, vote_counts
from ponder.verifiers.base import Verifier


async def run(problem: Problem, generator: Generator, verifier: Verifier | None, config: StrategyConfig) -> Result:
    config.parse(NoOptions, "best-of-n")
    verifier = require(verifier, "best-of-n")
    session = Session("best-of-n", problem, generator, config)
    candidates = [session.candidate(s) for s in await (await session.submit(config.budget)).collect()]
    for c, score in zip(candidates, await verifier.score(problem, [c.text for c in candidates])):
        c.score = round(score, 6)
    best = max(candidates, key=lambda c: (c.score, c.mean_logprob))
    return session.result(best.answer, candidates, "budget", vote_counts(candidates), verifier=verifier.name,
                          best_score=best.score)
