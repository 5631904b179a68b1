"""reference: answers with the dataset's own reference solution, with no model, so that the whole path from
loading a benchmark to extracting and grading an answer can be checked on gold data
(`ponder eval --task gsm8k --data ... --strategy reference` should be right on every problem)."""

from __future__ import annotations

from ponder.backends.base import Generator
from ponder.strategies.base import Candidate, NoOptions, Problem, Result, Session, StrategyConfig, vote_counts
from ponder.verifiers.base import Verifier


async def run(problem: Problem, generator: Generator | None, verifier: Verifier | None, config: StrategyConfig
              ) -> Result:
    config.parse(NoOptions, "reference")
    session = Session("reference", problem, generator, config)
    candidate = Candidate(problem.solution, problem.extract(problem.solution), 0, "stop", 0.0)
    return session.result(candidate.answer, [candidate], "reference", vote_counts([candidate]))
