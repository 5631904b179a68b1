"""weighted-vote: self-consistency where each sample's vote counts its weight: a verifier's score, or the
trace's confidence, exp(mean token logprob) (the "weighted" variants of Wang et al., 2022, and of DeepConf's
offline voting)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ponder.backends.base import Generator
from ponder.errors import InvalidArgumentError
from ponder.strategies.base import Problem, Result, Session, StrategyConfig, majority
from ponder.verifiers.base import Verifier


@dataclass(frozen=True)
class Options:
    weight: str = "auto"  # "verifier", "confidence", or "auto": the verifier's score when one is given

    def check(self):
        if self.weight not in ("auto", "verifier", "confidence"):
            raise InvalidArgumentError(f"weighted-vote weight={self.weight!r}; choose auto, verifier or confidence")


async def run(problem: Problem, generator: Generator, verifier: Verifier | None, config: StrategyConfig) -> Result:
    options = config.parse(Options, "weighted-vote")
    weight = options.weight if options.weight != "auto" else ("verifier" if verifier else "confidence")
    if weight == "verifier" and verifier is None:
        raise InvalidArgumentError("weighted-vote weight=verifier needs a verifier (--verifier)")
    session = Session("weighted-vote", problem, generator, config)
    candidates = [session.candidate(s) for s in await (await session.submit(config.budget)).collect()]
    if weight == "verifier":
        scores = await verifier.score(problem, [c.text for c in candidates])
    else:
        scores = [math.exp(c.mean_logprob) for c in candidates]
    for c, score in zip(candidates, scores):
        c.score = round(score, 6)
    answer, votes = majority(candidates, weight=lambda c: c.score)
    return session.result(answer, candidates, "budget" if answer is not None else "no_answer", votes, weight=weight)
