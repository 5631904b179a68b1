"""Answer extraction and equivalence: numbers (arith, GSM8K), and LaTeX or symbolic answers (MATH, AIME)
through Hugging Face's `math-verify`.

    equivalent("1/2", "0.5") and equivalent("\\\\frac{1}{2}", "1/2") and equivalent("1,000", "1000")
    equivalent("x=3", "3")           # a stated variable's value counts as the value
"""

from __future__ import annotations

import functools
import re
from fractions import Fraction
from typing import Any

_NUMBER = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?|-?\.\d+")


def extract_number(text: str) -> str | None:
    """The last number in `text`, thousands separators removed ("1,000" -> "1000"), or None."""
    found = _NUMBER.findall(text)
    return found[-1].replace(",", "") if found else None


def extract_boxed(text: str) -> str | None:
    """The content of the last \\boxed{...} (braces balanced), or None."""
    start = text.rfind("\\boxed")
    if start < 0:
        return None
    i = text.find("{", start)
    if i < 0:
        return None
    depth = 0
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1:j]
    return None


def equivalent(a: Any, b: Any) -> bool:
    """Whether two answers mean the same: numbers compared exactly (as fractions), anything else through
    math-verify's parsing and symbolic comparison. None is equivalent to nothing."""
    if a is None or b is None:
        return False
    if a == b:
        return True
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
def _math_verify(a: str, b: str) -> bool:
    from math_verify import parse, verify

    def parsed(s: str):
        # math-verify looks for a LaTeX or plain expression; a bare answer is wrapped so it is found
        return parse(s if "$" in s or "\\boxed" in s else f"${s}$")

    try:
        x, y = parsed(a), parsed(b)
        return bool(x) and bool(y) and verify(x, y)
    except Exception:  # an answer math-verify cannot read is equal to nothing but itself
        return False
