"""budget-forcing: s1's budget forcing (Muennighoff et al., 2025, "s1: Simple test-time scaling"). One trace
whose thinking is held to B reasoning tokens: the engine ends its thinking at B (thinking_budget), and an end
marker the model writes before B becomes "Wait", so it thinks on (min_thinking_tokens), until B; then it answers.
B is the option `thinking_tokens`, else the configured sampling's thinking budget (--thinking-budget). The
`budget` of samples beyond one is not spent. Needs a thinking model (the engine refuses the others)."""

from __future__ import annotations

from dataclasses import dataclass

from ponder.backends.base import Generator
from ponder.errors import InvalidArgumentError
from ponder.strategies.base import Problem, Result, Session, StrategyConfig, vote_counts
from ponder.verifiers.base import Verifier


@dataclass(frozen=True)
class Options:
    thinking_tokens: int = 0  # B; 0: the configured sampling's thinking_budget

    def check(self):
        if self.thinking_tokens < 0:
            raise InvalidArgumentError(f"budget-forcing thinking_tokens={self.thinking_tokens} must be >= 0")


async def run(problem: Problem, generator: Generator, verifier: Verifier | None, config: StrategyConfig) -> Result:
    options = config.parse(Options, "budget-forcing")
    budget = options.thinking_tokens or config.sampling.thinking_budget
    if not budget:
        raise InvalidArgumentError("budget-forcing needs a thinking budget: --thinking-budget N or "
                                   "--option thinking_tokens=N")
    session = Session("budget-forcing", problem, generator, config)
    [sample] = await (await session.submit(1, thinking_budget=budget, min_thinking_tokens=budget)).collect()
    candidate = session.candidate(sample)
    return session.result(candidate.answer, [candidate], "sampled", vote_counts([candidate]), thinking_budget=budget,
                          reasoning_tokens=candidate.reasoning_tokens)
