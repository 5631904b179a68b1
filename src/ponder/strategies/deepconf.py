"""deepconf: DeepConf online (Fu et al., 2025, "Deep Think with Confidence"), with a consensus stop.

- Token confidence (`measure="topk"`, DeepConf's): C_i = -(1/k) * sum of the top-k logprobs at position i (high
  when the model is sure). `measure="logprob"`: the logprob of the token sampled at i (high when the model is
  sure of what it wrote), for models whose top-k tail says little (see docs/strategies.md).
- Group confidence: the mean C over a sliding window of `window` tokens; a trace's confidence is its lowest
  group confidence (the mean over the whole trace when it is shorter than a window).
- Warm-up: `warmup` traces run to the end; the stopping threshold s is the (100 - keep)th percentile of their
  confidences (keep=90: DeepConf-high, keep=10: DeepConf-low).
- Then traces run `parallel` at a time; one whose group confidence falls below s is aborted mid-flight and
  does not vote.
- Consensus stop (DeepConf has none across traces): after each finished trace, the Beta rule of
  adaptive-vote on the votes so far; once it reaches `consensus`, every running trace is aborted.
- Answer: the confidence-weighted vote of the finished traces (with "logprob", each weighs exp(its confidence):
  the geometric-mean probability of its weakest window).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ponder.backends.base import Generator
from ponder.errors import InvalidArgumentError
from ponder.strategies.adaptive_vote import beta_rule
from ponder.strategies.base import Events, Problem, Result, Session, StrategyConfig, Traces, majority, tally
from ponder.verifiers.base import Verifier


@dataclass(frozen=True)
class Options:
    warmup: int = 0  # 0: an eighth of the budget, at least 2
    keep: float = 90.0  # percent of warm-up traces above the threshold (90: DeepConf-high, 10: DeepConf-low)
    window: int = 8  # tokens per group
    top_logprobs: int = 5  # k of the token confidence
    measure: str = "topk"  # token confidence: "topk" (DeepConf's) or "logprob" (of the sampled token)
    consensus: float = 0.9  # the Beta rule's confidence that the leading answer is the mode
    parallel: int = 4  # traces in flight at once after the warm-up

    def check(self):
        for name, ok in (("warmup", self.warmup >= 0), ("keep", 0 < self.keep <= 100), ("window", self.window >= 1),
                         ("top_logprobs", self.top_logprobs >= 1), ("consensus", 0.5 < self.consensus <= 1),
                         ("parallel", self.parallel >= 1)):
            if not ok:
                raise InvalidArgumentError(f"deepconf {name}={getattr(self, name)} is out of range")
        if self.measure not in ("topk", "logprob"):
            raise InvalidArgumentError(f"deepconf measure={self.measure!r}; choose topk or logprob")


class Confidence:
    """A trace's running token confidences and its lowest group confidence so far."""

    def __init__(self, window: int):
        self.window = window
        self.tokens: list[float] = []
        self.lowest = math.inf

    def add(self, tokens: list[float]) -> float | None:
        """Add token confidences; returns the latest group confidence once a window is full, else None."""
        group = None
        for token in tokens:
            self.tokens.append(token)
            if len(self.tokens) >= self.window:
                group = sum(self.tokens[-self.window:]) / self.window
                self.lowest = min(self.lowest, group)
        return group

    @property
    def value(self) -> float:
        if self.lowest < math.inf:
            return self.lowest
        return sum(self.tokens) / len(self.tokens) if self.tokens else 0.0


async def run(problem: Problem, generator: Generator, verifier: Verifier | None, config: StrategyConfig) -> Result:
    options = config.parse(Options, "deepconf")
    warmup = min(options.warmup or max(2, config.budget // 8), config.budget)
    session = Session("deepconf", problem, generator, config)
    traces, confidence, candidates = Traces(), {}, []
    ended, pruned, threshold, stop_reason, certainty = 0, 0, -math.inf, "budget", 0.0

    topk = options.measure == "topk"
    logprobs = options.top_logprobs if topk else 0  # "logprob" reads the sampled tokens' own logprobs
    weight = (lambda c: c.score) if topk else (lambda c: math.exp(c.score))

    def share() -> float:  # the confidence-weighted share of the leading answer
        groups = tally(candidates, weight=weight)
        total = sum(vote.weight for vote in groups)
        return groups[0].weight / total if total > 0 else 0.0

    async with Events() as events:
        events.add(await session.submit(warmup, logprobs=logprobs))
        async for stream, event in events:
            key = traces.add(stream, event)
            conf = confidence.setdefault(key, Confidence(options.window))
            group = conf.add([-sum(top.values()) / len(top) for top in event.top_logprobs or []] if topk
                             else event.logprobs)
            if not event.finished:
                if group is not None and group < threshold:
                    pruned += 1
                    await stream.abort(event.index)  # below the warm-up's bar: stop spending on it
                continue
            ended += 1
            if event.finish_reason != "abort":
                candidates.append(session.candidate(traces.sample(key, event), score=conf.value))
                if len(candidates) == warmup and threshold == -math.inf:  # warm-up done: set the bar
                    # unrounded: traces often share their weakest window (the same opening steps), so many
                    # sit exactly on the bar, and a bar rounded up by a hair would prune them all
                    threshold = float(np.percentile([c.score for c in candidates], 100 - options.keep))
                certainty = beta_rule([v.weight for v in tally(candidates)])
                if len(candidates) >= warmup and stop_reason == "budget" and certainty >= options.consensus:
                    stop_reason = "consensus"
                    await events.abort()
            room = min(options.parallel - (session.samples - ended), config.budget - session.samples)
            if threshold > -math.inf and stop_reason == "budget" and room > 0:
                more = await session.more(room, logprobs=logprobs)
                if more is None:
                    stop_reason = "limit"  # no room left: those running finish
                else:
                    events.add(more)
    answer, votes = majority(candidates, weight=weight)
    if answer is None:
        stop_reason = "no_answer"
    return session.result(answer, candidates, stop_reason, votes, threshold=round(threshold, 4), warmup=warmup,
                          pruned=pruned, certainty=round(certainty, 4), share=round(share(), 4))
