"""Answer equivalence and grading: numbers (arith, GSM8K), LaTeX or symbolic answers (MATH, AIME) through
Hugging Face's `math-verify`, and programs (HumanEval) by their tests in the sandbox. (How an answer is read
out of a model's text is the task's: ponder.tasks.)

    equivalent("1/2", "0.5") and equivalent("\\\\frac{1}{2}", "1/2") and equivalent("1,000", "1000")
    equivalent("x=3", "3")           # a stated variable's value counts as the value
    grade(problem, problem.extract(text))
"""

from __future__ import annotations

import functools
import re
from fractions import Fraction
from typing import Any

from ponder.tasks.base import MATH_DELIMITER, Problem, math_timeout, parse_math


def grade(problem: Problem, answer: Any, timeout: float = 10.0) -> bool:
    """Whether `answer` (as the task extracted it) is right for `problem`: equivalent to the reference, or for
    a code task, a program that passes the task's tests in the sandbox within `timeout` seconds."""
    if problem.grader == "code":
        if not answer:
            return False
        from ponder.verifiers.sandbox import run

        program = f"{answer}\n\n{problem.tests}\n\ncheck({problem.entry_point})\n"
        return run(program, timeout=timeout).status == "pass"
    return equivalent(problem.answer, answer)


def classes(answers: list[Any]) -> list[int | None]:
    """Each answer's class of equivalent answers ("0.5" and "1/2" are one), numbered in order of first sight;
    None for no answer. An answer joins the first class whose first answer it is equivalent to."""
    firsts: list[Any] = []
    labels: list[int | None] = []
    for a in answers:
        if a is None:
            labels.append(None)
            continue
        label = next((i for i, b in enumerate(firsts) if equivalent(b, a)), None)
        if label is None:
            firsts.append(a)
            label = len(firsts) - 1
        labels.append(label)
    return labels


def equivalent(a: Any, b: Any) -> bool:
    """Whether two answers mean the same: numbers compared exactly (as fractions), anything else through
    math-verify's parsing and symbolic comparison, `a` taken as the reference (math-verify reads a stated variable
    or an equation's interval on the answer's side); answers of several lines (programs) only as the same text.
    None is equivalent to nothing."""
    if a is None or b is None:
        return False
    if a == b:
        return True
    if "\n" in str(a) or "\n" in str(b):
        return False
    x, y = _number(a), _number(b)
    if x is not None and y is not None:
        return x == y
    return _math_verify(str(a), str(b))


def _number(value: Any) -> Fraction | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return Fraction(value)
    text = str(value).strip()
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", text):  # thousands separators, not a list such as "1,2"
        text = text.replace(",", "")
    if re.fullmatch(r"-?\d+(\.\d+)?|-?\d+/\d+", text) and not re.fullmatch(r".*/0+", text):
        return Fraction(text)
    return None


@functools.lru_cache(maxsize=4096)
def _math_verify(reference: str, answer: str) -> bool:
    from math_verify import verify

    x, y = _parsed(reference), _parsed(answer)
    # an answer math-verify cannot read is equal to nothing but itself (the a == b above); a comparison out of
    # time is not equal
    return bool(x) and bool(y) and verify(x, y, timeout_seconds=math_timeout())


@functools.lru_cache(maxsize=4096)
def _parsed(answer: str) -> list:
    """math-verify's parse of one answer, once: a vote compares each candidate's answer with several others."""
    # an answer is bare LaTeX or an expression: math-verify finds LaTeX inside delimiters only
    return parse_math(answer if MATH_DELIMITER.search(answer) else f"${answer}$")
