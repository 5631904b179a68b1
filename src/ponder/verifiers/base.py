"""The Verifier protocol: scores for candidate solutions of a problem, higher is better.

An outcome verifier scores whole solutions; a process (step) verifier also scores each reasoning step of a
partial solution, so search strategies can prune between steps. Steps are the lines of a solution.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ponder.tasks.base import Problem

__all__ = ["Problem", "StepVerifier", "Verifier", "steps"]


class Verifier(Protocol):
    name: str

    async def score(self, problem: Problem, candidates: list[str]) -> list[float]:
        """One score in [0, 1] per candidate solution."""
        ...


@runtime_checkable
class StepVerifier(Verifier, Protocol):
    async def score_steps(self, problem: Problem, candidates: list[str]) -> list[list[float]]:
        """Per candidate, one score in [0, 1] per complete step (line) so far."""
        ...


def steps(text: str) -> list[str]:
    """The complete steps (lines) of a solution; a last line without its newline counts once the text ends."""
    return [line for line in text.split("\n") if line.strip()]
