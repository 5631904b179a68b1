"""Test-time scaling strategies: one file each, one signature, one registry.

    result = await STRATEGIES["adaptive-vote"](problem, generator, verifier, StrategyConfig(budget=32))
"""

from ponder.strategies import (adaptive_vote, beam, best_of_n, deepconf, first_finish, particle, reference, short_vote,
                               single, spec_reason, vote, weighted_vote)
from ponder.strategies.base import Candidate, Result, StrategyConfig

STRATEGIES = {
    "single": single.run,
    "vote": vote.run,
    "weighted-vote": weighted_vote.run,
    "best-of-n": best_of_n.run,
    "adaptive-vote": adaptive_vote.run,
    "first-finish": first_finish.run,
    "short-vote": short_vote.run,
    "deepconf": deepconf.run,
    "beam": beam.run,
    "particle": particle.run,
    "spec-reason": spec_reason.run,
    "reference": reference.run,  # not a strategy: the dataset's own solution, to check loading and grading
}

__all__ = ["STRATEGIES", "Candidate", "Result", "StrategyConfig"]
