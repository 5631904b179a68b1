"""Test-time scaling strategies: one file each, one signature, one registry whose entries say what each needs.

    result = await STRATEGIES["adaptive-vote"](problem, generator, verifier, StrategyConfig(budget=32))

Code outside this package never compares a strategy's name: it reads the entry (ponder.runtime builds what an
entry declares: a verifier, a draft generator, or no model at all).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable, Literal

from ponder.strategies import (adaptive_vote, auto, beam, best_of_n, budget_forcing, deepconf, first_finish,
                               nothink_vote, particle, reference, short_vote, single, spec_reason, vote, weighted_vote)
from ponder.strategies.anytime import run_limited
from ponder.strategies.base import Candidate, NoOptions, Result, StrategyConfig


@dataclass(frozen=True)
class Strategy:
    """A registry entry: the strategy's `run` and what it needs besides the model.

    Args:
        run: `async def run(problem, generator, verifier, config) -> Result`.
        verifier: "none" (takes none), "optional" (uses one if given), "required" (any verifier), "steps" (a
            process verifier, which scores each step).
        draft: True if a draft model writes with a generator of its own (spec-reason); with any other strategy a
            draft runs inside the engine as speculative decoding.
        model: False where no model is asked at all (reference: the dataset's own solution).
        options: the dataclass of its own options (`StrategyConfig.options` are read into it, unknown names refused).
        thinking: True where it controls a thinking model's thinking (a model that does not think refuses it, or
            samples as it always does).
        paths: its options that name a file of the machine it runs on (a request to the server may not set them).
        nested: its run at budget B holds its run at every smaller budget k (the Result's first k candidates, voted:
            vote), so one run measures them all.
        chooses: it chooses among the other strategies (auto), so it is not one to choose.
    """

    run: Callable[..., Awaitable[Result]]
    verifier: Literal["none", "optional", "required", "steps"] = "none"
    draft: bool = False
    model: bool = True
    options: type = NoOptions
    thinking: bool = False
    paths: tuple[str, ...] = ()
    nested: bool = False
    chooses: bool = False

    @property
    def choosable(self) -> bool:
        """Whether auto may choose it: a strategy of the model alone (no verifier it needs, no draft), itself not
        one that chooses."""
        return self.model and not self.chooses and not self.draft and self.verifier not in ("required", "steps")

    def __call__(self, problem, generator, verifier, config: StrategyConfig) -> Awaitable[Result]:
        if config.limits.any and self.model:  # tokens, seconds or dollars besides the budget
            return run_limited(self.run, problem, generator, verifier, config)
        return self.run(problem, generator, verifier, config)


STRATEGIES: dict[str, Strategy] = {
    "single": Strategy(single.run),
    "vote": Strategy(vote.run, nested=True),
    "weighted-vote": Strategy(weighted_vote.run, verifier="optional", options=weighted_vote.Options),
    "best-of-n": Strategy(best_of_n.run, verifier="required"),
    "adaptive-vote": Strategy(adaptive_vote.run, options=adaptive_vote.Options),
    "first-finish": Strategy(first_finish.run),
    "short-vote": Strategy(short_vote.run, options=short_vote.Options),
    "deepconf": Strategy(deepconf.run, options=deepconf.Options),
    "nothink-vote": Strategy(nothink_vote.run, thinking=True),
    "budget-forcing": Strategy(budget_forcing.run, options=budget_forcing.Options, thinking=True),
    "beam": Strategy(beam.run, verifier="steps", options=beam.Options),
    "particle": Strategy(particle.run, verifier="steps", options=particle.Options),
    "spec-reason": Strategy(spec_reason.run, draft=True, options=spec_reason.Options),
    # a probe, then what the policy (ponder tune) says pays for the probe's difficulty bin
    "auto": Strategy(auto.run, verifier="optional", options=auto.Options, paths=("policy",), chooses=True),
    # not a strategy: the dataset's own solution, to check loading and grading
    "reference": Strategy(reference.run, model=False),
}

__all__ = ["STRATEGIES", "Candidate", "Result", "Strategy", "StrategyConfig"]
