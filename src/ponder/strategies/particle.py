"""particle: particle filtering over reasoning steps (Puri et al., 2025, "A Probabilistic Inference Approach to
Inference-Time Scaling of LLMs using Particle-Based Monte Carlo Methods"). `budget` particles (partial
solutions) advance one step at a time; after each step the process verifier scores every particle and the
unfinished ones are resampled, with replacement, in proportion to softmax(score / temperature): likely-good
partial solutions multiply, poor ones die out, and the sampling noise keeps the search from collapsing early.
Particles sharing a prefix are continued by one request (their prompt and steps computed once).

The answer is the weighted vote of the finished particles, each weighing its final score.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, replace

import numpy as np

from ponder.backends.base import Generator
from ponder.errors import InvalidArgumentError
from ponder.strategies.base import (AGGREGATES, Partial, Problem, Result, Session, StrategyConfig, majority,
                                    require, score_partials)
from ponder.verifiers.base import Verifier


@dataclass(frozen=True)
class Options:
    delimiter: str = "\n"
    max_steps: int = 24
    temperature: float = 0.2  # of the resampling softmax over scores in [0, 1]: lower follows the verifier harder
    aggregate: str = "min"  # as in beam
    seed: int = 0  # of the resampling

    def check(self):
        if self.temperature <= 0 or self.max_steps < 1 or not self.delimiter:
            raise InvalidArgumentError("particle needs temperature > 0, max_steps >= 1 and a non-empty delimiter")
        if self.aggregate not in AGGREGATES:
            raise InvalidArgumentError(f"particle aggregate={self.aggregate!r}; choose from {sorted(AGGREGATES)}")


async def run(problem: Problem, generator: Generator, verifier: Verifier | None, config: StrategyConfig) -> Result:
    options = config.parse(Options, "particle")
    verifier = require(verifier, "particle", step=True)
    rng = np.random.default_rng(options.seed)
    session = Session("particle", problem, generator, config)
    particles, finished, depth, resampled = [Partial()] * config.budget, [], 0, 0
    while particles and depth < options.max_steps:
        depth += 1
        groups = Counter(p.text for p in particles)  # identical particles: one request, n samples
        parents = {p.text: p for p in particles}
        children = [c for group in await asyncio.gather(
            *(session.expand(parents[text], n, options.delimiter) for text, n in groups.items())) for c in group]
        await score_partials(problem, verifier, children, options.aggregate)
        finished += [c for c in children if c.done]
        alive = [c for c in children if not c.done]
        if not alive:
            break
        weights = np.exp(np.array([c.score for c in alive]) / options.temperature)
        picks = rng.choice(len(alive), size=len(alive), p=weights / weights.sum())
        resampled += int(len(alive) - len(set(picks.tolist())))  # particles replaced by copies of others
        particles = [replace(alive[i]) for i in picks]
    pool = finished or particles
    candidates = [session.finished(p) for p in pool]
    answer, votes = majority(candidates, weight=lambda c: c.score)
    return session.result(answer, candidates, "searched" if finished else "max_steps", votes, depth=depth,
                          resampled=resampled, verifier=verifier.name)
