"""A user's own question (`ponder solve`, a request to `ponder serve`): no reference answer, its answer read the
way a math answer is, in both places the same."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ponder.backends.base import Prompt
from ponder.tasks.base import Problem, extract_math


@dataclass(frozen=True)
class Question(Problem):
    """A question as the user asked it: a text (one user message) or chat messages, prompted as given.

    Its answer is the general math answer of a solution (the last \\boxed{}, an "Answer:" or "the answer is"
    line, else the last number; tasks.base.extract_math); a whole number comes back as an int, so the answers of
    an arith model ("Answer: 38") are the numbers they are.

    Example:
        >>> Question.asked("Mia has 23 pens. She buys 15 more. How many pens does she have now?").extract("Answer: 38")
        38
    """

    messages: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def asked(cls, prompt: Prompt, id: str = "question") -> Question:
        question = prompt if isinstance(prompt, str) else ""
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        return cls(id=id, question=question, answer=None, messages=messages)

    def prompt(self) -> Prompt:
        return self.messages

    def extract(self, text: str) -> Any:
        answer = extract_math(text)
        if answer is not None and answer.lstrip("-").isdigit():
            return int(answer)
        return answer
