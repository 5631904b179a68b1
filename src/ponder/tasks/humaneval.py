"""HumanEval (Chen et al., 2021): 164 Python functions to complete, graded by running the task's tests.

Records: {"task_id", "prompt", "entry_point", "canonical_solution", "test"} (openai/human-eval's
HumanEval.jsonl.gz; hub id openai/openai_humaneval). The question is the prompt (imports, the signature and the
docstring); the answer is a whole program, the prompt with a body. verifiers.answer.grade runs it with `test`
and `check(entry_point)`, only in the sandbox (verifiers/sandbox.py): the programs are untrusted.

Prompts: "chat" asks for the function in a ```python block; "few-shot" is the prompt itself, for a base model
to continue (the body stops where a new top-level statement would begin).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ponder.tasks import base

STOP = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\nassert ", '\n"""', "\n#")
_BLOCK = re.compile(r"```(?:python|py)?\n(.*?)(?:```|$)", re.DOTALL)


@dataclass(frozen=True)
class Problem(base.Problem):
    def prompt(self) -> str | list[dict]:
        if self.style == "chat":
            ask = "Complete the following Python function. Reply with the whole function in one ```python code block."
            return [{"role": "user", "content": f"{ask}\n\n```python\n{self.question}```"}]
        return self.question

    def extract(self, text: str) -> str | None:
        """The program: a chat reply's last code block (with the prompt's imports and signature put back if
        the reply has only a body), or a base model's continuation cut at the first new top-level statement."""
        blocks = _BLOCK.findall(text)
        if blocks:
            code = blocks[-1]
            return code if f"def {self.entry_point}" in code else self.question + code
        if f"def {self.entry_point}" in text:
            return text
        cut = min([i for i in (text.find(s) for s in STOP) if i >= 0], default=len(text))
        body = text[:cut]
        return self.question + body if body.strip() else None


def load(source: str, style: str = "chat") -> list[Problem]:
    return [Problem(record["task_id"], record["prompt"], None, record["prompt"] + record["canonical_solution"],
                    style=base.check_style(style), stop=STOP if style == "few-shot" else (), grader="code",
                    tests=record["test"], entry_point=record["entry_point"])
            for _, record in base.read_records(source, ("task_id", "prompt", "entry_point", "canonical_solution",
                                                         "test"))]
