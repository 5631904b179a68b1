"""arith-steps: a programmatic process verifier for arith solutions. It re-computes every equation line
(`38/2=19`) and checks that each step works on from the previous result and that the answer line states the
last one; a step scores 1 when it holds and 0 when it does not. A solution's score is its lowest step score:
one wrong step spoils it.

It checks the arithmetic only, not whether a step is the one the question asks for (it does not read the
question), as a process reward model judges each step's soundness."""

from __future__ import annotations

import re

from ponder.verifiers.base import Problem, steps

_EQUATION = re.compile(r"\s*(-?\d+)\s*([-+*/x×÷])\s*(-?\d+)\s*=\s*(-?\d+)\s*")
_ANSWER = re.compile(r"\s*Answer:\s*(-?\d+)\s*")
_OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "x": lambda a, b: a * b,
        "×": lambda a, b: a * b, "/": lambda a, b: a / b if b else None, "÷": lambda a, b: a / b if b else None}


class ArithSteps:
    name = "arith-steps"

    async def score(self, problem: Problem, candidates: list[str]) -> list[float]:
        return [min(s, default=0.0) for s in await self.score_steps(problem, candidates)]

    async def score_steps(self, problem: Problem, candidates: list[str]) -> list[list[float]]:
        return [check(text) for text in candidates]


def check(text: str) -> list[float]:
    """1.0 or 0.0 for each step (line) of a solution: sound arithmetic, chained from the previous result; an
    answer line that states the last result. A line that is neither scores 0."""
    scores, last = [], None
    for line in steps(text):
        if m := _EQUATION.fullmatch(line):
            a, op, b, c = int(m[1]), m[2], int(m[3]), int(m[4])
            ok = _OPS[op](a, b) == c and (last is None or a == last)
            scores.append(float(ok))
            last = c
        elif m := _ANSWER.fullmatch(line):
            scores.append(float(last is not None and int(m[1]) == last))
        else:
            scores.append(0.0)
    return scores
