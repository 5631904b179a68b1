"""Test-time scaling strategies: one file each, one signature, one registry."""

from ponder.strategies import single, vote
from ponder.strategies.base import Candidate, Result, StrategyConfig

STRATEGIES = {
    "single": single.run,
    "vote": vote.run,
}

__all__ = ["STRATEGIES", "Candidate", "Result", "StrategyConfig"]
