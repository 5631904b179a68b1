"""Tasks: problem sets with their prompts, answer extraction and exact grading."""

from __future__ import annotations

from ponder.errors import InvalidArgumentError
from ponder.tasks import arith

TASKS = {"arith": arith}


def load(task: str, seed: int, limit: int) -> list:
    """`limit` evaluation problems of `task` for `seed`."""
    if task not in TASKS:
        raise InvalidArgumentError(f"unknown task {task!r}; choose from {sorted(TASKS)}")
    if limit < 1:
        raise InvalidArgumentError(f"limit={limit} must be >= 1")
    return TASKS[task].problems(seed, limit)
