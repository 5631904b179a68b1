"""GSM8K (Cobbe et al., 2021): grade-school math word problems, graded on the final number.

Records: {"question", "answer"}, where `answer` is a worked solution whose last line is `#### <number>`
(openai/grade-school-math's test.jsonl; hub id openai/gsm8k, config "main").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ponder.errors import InvalidArgumentError
from ponder.tasks import base

HUB_CONFIG = "main"
# The first four chain-of-thought exemplars of Wei et al. (2022), for base models.
SHOTS = (
    ("There are 15 trees in the grove. Grove workers will plant trees in the grove today. After they are done, "
     "there will be 21 trees. How many trees did the grove workers plant today?",
     "There are 15 trees originally. Then there were 21 trees after some more were planted. So there must have "
     "been 21 - 15 = 6. The answer is 6."),
    ("If there are 3 cars in the parking lot and 2 more cars arrive, how many cars are in the parking lot?",
     "There are originally 3 cars. 2 more cars arrive. 3 + 2 = 5. The answer is 5."),
    ("Leah had 32 chocolates and her sister had 42. If they ate 35, how many pieces do they have left in total?",
     "Originally, Leah had 32 chocolates. Her sister had 42. So in total they had 32 + 42 = 74. After eating 35, "
     "they had 74 - 35 = 39. The answer is 39."),
    ("Jason had 20 lollipops. He gave Denny some lollipops. Now Jason has 12 lollipops. How many lollipops did "
     "Jason give to Denny?",
     "Jason started with 20 lollipops. Then he had 12 after giving some to Denny. So he gave Denny 20 - 12 = 8. "
     "The answer is 8."),
)
_FINAL = re.compile(r"####\s*(.+)")


@dataclass(frozen=True)
class Problem(base.Problem):
    def extract(self, text: str) -> str | None:
        """`#### N` (the dataset's own form), else \\boxed{N}, else "the answer is N", else the last number."""
        text = base.until_next_question(text)
        for found in (_FINAL.findall(text), [base.extract_boxed(text)], re.findall(r"answer is\s*(.+)", text)):
            number = base.extract_number(found[-1]) if found and found[-1] else None
            if number is not None:
                return number
        return base.extract_number(text)


def load(source: str, style: str = "chat") -> list[Problem]:
    problems = []
    for line, record in base.read_records(source, ("question", "answer"), hub_config=HUB_CONFIG):
        solution = record["answer"]
        final = _FINAL.findall(solution)
        if not final:
            raise InvalidArgumentError(f"{source}, line {line}: the answer has no '#### <number>' line")
        problems.append(Problem(f"gsm8k/{line - 1}", record["question"], final[-1].strip().replace(",", ""),
                                solution, **base.prompting(style, SHOTS)))
    return problems
