"""AIME 2024 and 2025: competition problems whose answers are integers 0-999, graded as integers.

Two record layouts (../shared/data/README.md): AIME 2024 {"id", "problem", "solution", "answer" ("025")}
(Qwen2.5-Math's copy; hub id HuggingFaceH4/aime_2024) and AIME 2025 {"prompt", "answer" (int)}, where the
prompt ends with an instruction line that is removed here (QwQ's copy). AIME 2025 has no worked solutions:
its reference solution is the answer, boxed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ponder.errors import InvalidArgumentError
from ponder.tasks import base
from ponder.tasks.math500 import SHOTS


@dataclass(frozen=True)
class Problem(base.Problem):
    def extract(self, text: str) -> int | None:
        """The integer of the last \\boxed{...} (\\textbf{(113) } and 104. included), else of the final answer."""
        found = base.extract_math(text)
        digits = re.findall(r"\d+", found or "")
        return int(digits[-1]) if digits else None


def load(source: str, style: str = "chat", year: int = 2024) -> list[Problem]:
    problems = []
    for line, record in base.read_records(source, ("answer",)):
        question = record.get("problem") or record.get("question") or record.get("prompt")
        if not question:
            raise InvalidArgumentError(f"{source}, line {line}: no field 'problem' (or 'prompt')")
        question = question.removesuffix(f"\n{base.MATH_INSTRUCTION}")
        try:
            answer = int(str(record["answer"]).strip())
        except ValueError:
            raise InvalidArgumentError(f"{source}, line {line}: answer {record['answer']!r} is not an "
                                       "integer") from None
        solution = record.get("solution") or f"The answer is $\\boxed{{{answer}}}$."
        problems.append(Problem(f"aime{year % 100}/{record.get('id', line - 1)}", question, answer, solution,
                                **base.prompting(style, SHOTS)))
    return problems
