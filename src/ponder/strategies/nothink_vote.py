"""nothink-vote: NoThinking with a parallel vote (Ma et al., 2025, "Reasoning Models Can Be Effective Without
Thinking"). `budget` samples of a thinking model with its thinking turned off (enable_thinking=False: the chat
template closes the think block empty and the model answers at once), and the majority of their answers (read
from the content) wins, as `vote`'s does. A model that does not think samples as it always does."""

from __future__ import annotations

from ponder.backends.base import Generator
from ponder.strategies import vote
from ponder.strategies.base import Problem, Result, StrategyConfig
from ponder.verifiers.base import Verifier


async def run(problem: Problem, generator: Generator, verifier: Verifier | None, config: StrategyConfig) -> Result:
    return await vote.run(problem, generator, verifier, config, "nothink-vote", enable_thinking=False)
