"""judge: a generative verifier (LLM-as-a-judge). A Generator is shown the question and a candidate solution and
asked for a grade from 0 to 10; the grade, parsed from its reply, divided by 10, is the score (the mean over
`samples` replies). A reply with no grade in it scores `fallback`.

It needs a model that can grade: a real instruction-tuned model behind any backend. The tiny `ponder-arith`
has only learnt to solve arith problems and gives no grades, so on it every score is the fallback.
"""

from __future__ import annotations

import asyncio
import re

from ponder.backends.base import Generator, SamplingParams, generate
from ponder.verifiers.base import Problem

PROMPT = ("Here is a question and a proposed solution. Check the solution step by step, then grade it from 0 "
          "(wrong) to 10 (certainly right). End your reply with a line 'Grade: N'.\n\n"
          "Question: {question}\n\nProposed solution:\n{solution}")
_GRADE = re.compile(r"grade\s*[:=]?\s*(\d+(?:\.\d+)?)\s*(?:/\s*10)?", re.IGNORECASE)


def parse_grade(reply: str) -> float | None:
    """The last 'Grade: N' (N in 0..10) in a reply as a score in [0, 1], or None."""
    found = [float(g) for g in _GRADE.findall(reply) if 0 <= float(g) <= 10]
    return found[-1] / 10 if found else None


class Judge:
    """Args:
        generator: the model that grades.
        samples: replies per candidate (their mean grade is the score).
        temperature: of the replies (0: one greedy reply is enough).
        fallback: the score of a reply with no grade.
        prompt: the template, with {question} and {solution}.
    """

    name = "judge"

    def __init__(self, generator: Generator, samples: int = 1, temperature: float = 0.0, fallback: float = 0.5,
                 max_tokens: int = 256, prompt: str = PROMPT):
        self.generator = generator
        self.params = SamplingParams(n=samples, temperature=temperature, max_tokens=max_tokens)
        self.fallback = fallback
        self.prompt = prompt

    async def score(self, problem: Problem, candidates: list[str]) -> list[float]:
        async def one(solution: str) -> float:
            content = self.prompt.format(question=problem.question, solution=solution)
            replies = (await generate(self.generator, [{"role": "user", "content": content}], self.params)).samples
            grades = [parse_grade(r.text) for r in replies]
            return sum(self.fallback if g is None else g for g in grades) / len(grades)
        return list(await asyncio.gather(*(one(c) for c in candidates)))
