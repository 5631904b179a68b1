"""Tasks: problem sets with their prompts and answer extraction (grading: verifiers.answer.grade).

arith is generated (from a seed, no file); the benchmarks load a local JSONL file (plain or .gz; the layouts of
../shared/data) or, where the `datasets` library and a network are present, a hub id.
"""

from __future__ import annotations

from ponder.errors import InvalidArgumentError
from ponder.tasks import aime, arith, gsm8k, humaneval, math500
from ponder.tasks.base import STYLES, Problem, check_style

TASKS = ("arith", "gsm8k", "math500", "aime24", "aime25", "humaneval")


def load(task: str, seed: int = 0, limit: int | None = None, data: str | None = None, style: str = "chat"
         ) -> list[Problem]:
    """The problems of `task`: for arith, `limit` held-out problems generated for `seed`; for a benchmark, the
    records of `data` (the first `limit`, or all)."""
    if task not in TASKS:
        raise InvalidArgumentError(f"unknown task {task!r}; choose from {list(TASKS)}")
    if limit is not None and limit < 1:
        raise InvalidArgumentError(f"limit={limit} must be >= 1")
    check_style(style)
    if task == "arith":
        if data is not None:
            raise InvalidArgumentError("task 'arith' is generated from --seed and takes no --data")
        if style != "chat":
            raise InvalidArgumentError("task 'arith' has only the chat prompt (its models are chat models)")
        return arith.problems(seed, limit or 100)
    if data is None:
        raise InvalidArgumentError(f"task {task!r} needs --data: a JSONL file (plain or .gz), e.g. "
                                   f"../shared/data/{_EXAMPLE[task]}, or a hub id")
    if task in ("aime24", "aime25"):
        problems = aime.load(data, style, year=2000 + int(task[-2:]))
    else:
        problems = {"gsm8k": gsm8k, "math500": math500, "humaneval": humaneval}[task].load(data, style)
    return problems[:limit]


def problem_for(task: str, reference: str, entry_point: str = "") -> Problem:
    """A problem of `task` with only a reference answer (for code: the tests and the entry point), to grade one
    answer with (`ponder grade`)."""
    if task in ("arith", "aime24", "aime25"):
        try:
            answer = int(reference.strip())
        except ValueError:
            raise InvalidArgumentError(f"a {task} reference is an integer, not {reference!r}") from None
        return (arith.Problem if task == "arith" else aime.Problem)("grade", "", answer)
    if task == "humaneval":
        return humaneval.Problem("grade", "", None, grader="code", tests=reference, entry_point=entry_point)
    return {"gsm8k": gsm8k.Problem, "math500": math500.Problem}[task]("grade", "", reference.strip())


_EXAMPLE = {"gsm8k": "gsm8k/test.jsonl", "math500": "math500/test.jsonl", "aime24": "aime24/test.jsonl",
            "aime25": "aime25/aime25.jsonl", "humaneval": "humaneval/HumanEval.jsonl.gz"}

__all__ = ["STYLES", "TASKS", "Problem", "load", "problem_for"]
