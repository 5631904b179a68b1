"""adaptive-vote: Adaptive-Consistency (Aggarwal et al., 2023). Samples run `parallel` at a time; after each
one finishes, a stopping rule asks how sure the vote already is, and once it is sure enough every sample still
running is aborted, so the rest of the budget is never spent.

Rules, over the answer counts so far (unanswered samples do not vote):
- "beta": with v1, v2 the two largest counts, P(p1 > p2) under Beta(v1 + 1, v2 + 1), i.e. the posterior
  probability that the leader beats the runner-up; the paper's default.
- "dirichlet": P(the leader's probability is the largest) under Dirichlet(counts + 1), by Monte Carlo.
Stop when it reaches `confidence` (0.95 in the paper).

Votes count in launch order: a finished sample votes once every sample launched before it has finished, so the
rule sees the samples in the order the paper draws them one at a time, whatever `parallel` is. Counted as they
finish, the first votes would be those of the shortest samples: an unbiased draw no longer, and on
ponder-arith-think's harder problems the shortest traces often share one wrong shortcut, on which the rule then
stops (seed 4's pool of 32 samples replayed at confidence 0.875, 4 in flight: 92.7% counted as they finish, 94.0%
in launch order; 6 problems lost, 2 won). The defaults were chosen on that seed (docs/compute-optimal.md): two in
flight, and confidence 0.87, where two unanimous votes are enough (Beta(3, 1): 0.875) and so is 4 to 1 (0.89),
but not 3 to 1 (0.81). The runs there used 0.875: no count of 32 votes or fewer falls in between, so both decide
alike, and 0.87 does not rest on 0.875 being computed exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from ponder.backends.base import Generator
from ponder.errors import InvalidArgumentError
from ponder.strategies.base import Events, Problem, Result, Session, StrategyConfig, Traces, majority, tally
from ponder.verifiers.base import Verifier


@dataclass(frozen=True)
class Options:
    confidence: float = 0.87
    rule: str = "beta"
    parallel: int = 2  # samples in flight at once: more is faster on a batched backend, but spends more past the stop

    def check(self):
        if not 0.5 <= self.confidence < 1:
            raise InvalidArgumentError(f"adaptive-vote confidence={self.confidence} must be in [0.5, 1)")
        if self.rule not in RULES:
            raise InvalidArgumentError(f"adaptive-vote rule={self.rule!r}; choose from {sorted(RULES)}")
        if self.parallel < 1:
            raise InvalidArgumentError(f"adaptive-vote parallel={self.parallel} must be >= 1")


def beta_rule(counts: list[float]) -> float:
    counts = sorted(counts, reverse=True) + [0, 0]
    return float(stats.beta.sf(0.5, counts[0] + 1, counts[1] + 1))


def dirichlet_rule(counts: list[float], draws: int = 20_000) -> float:
    if not counts:
        return 0.0
    alpha = np.asarray(sorted(counts, reverse=True), dtype=float) + 1
    p = np.random.default_rng(0).dirichlet(alpha, size=draws)
    return float((p.argmax(axis=1) == 0).mean())


RULES = {"beta": beta_rule, "dirichlet": dirichlet_rule}


async def run(problem: Problem, generator: Generator, verifier: Verifier | None, config: StrategyConfig) -> Result:
    options = config.parse(Options, "adaptive-vote")
    rule = RULES[options.rule]
    session = Session("adaptive-vote", problem, generator, config)
    traces, candidates = Traces(), []
    launched, finished, counted = [], {}, 0  # samples in launch order, those finished (None: aborted), and voted
    stop_reason, certainty = "budget", 0.0

    def launch(stream):
        launched.extend((id(stream), i) for i in range(stream.n))
        events.add(stream)

    async with Events() as events:
        launch(await session.submit(min(options.parallel, config.budget)))
        async for stream, event in events:
            key = traces.add(stream, event)
            if not event.finished or stop_reason == "confident":
                continue
            aborted = event.finish_reason == "abort"
            finished[key] = None if aborted else session.candidate(traces.sample(key, event))
            while stop_reason != "confident" and counted < len(launched) and launched[counted] in finished:
                candidate = finished[launched[counted]]  # the next in launch order votes
                counted += 1
                if candidate is None:
                    continue
                candidates.append(candidate)
                certainty = rule([v.weight for v in tally(candidates)])
                if certainty >= options.confidence:
                    stop_reason = "confident"
                    await events.abort()
            if aborted or stop_reason != "budget" or session.samples >= config.budget:
                continue
            more = await session.more(1)  # keep `parallel` samples in flight
            if more is None:
                stop_reason = "limit"  # no room left: those running finish
            else:
                launch(more)
    answer, votes = majority(candidates)
    if answer is None:
        stop_reason = "no_answer"
    return session.result(answer, candidates, stop_reason, votes, certainty=round(certainty, 4),
                          finished=len(candidates))
