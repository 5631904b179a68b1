"""arith: synthetic multi-step arithmetic word problems, graded exactly.

A problem starts from a quantity and applies 1 to 6 operations (+, -, *, / with exact division) told in
words; its level is its number of steps. The reference solution restates each step as one equation and ends
with the answer::

    Mia has 23 pens. She buys 15 more. Then she keeps 1/2 of them. How many pens does she have now?

    23+15=38
    38/2=19
    Answer: 19

Every problem is a pure function of (split, seed, index). The split between training and evaluation is
structural: a problem belongs to ``test`` exactly when a hash of its question text says so, so no test question
can ever be generated for training, whatever seeds either side uses.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from typing import Literal

from ponder.tasks import base

Split = Literal["train", "test"]
MAX_LEVEL = 6
# Every number in a problem, its steps and its answer has at most three digits and stays under a cap, and
# operands are at most two digits: a table that a 3M-parameter model learns in half an hour of CPU training
# (one with values to 999 and operands to 99 was not learnt at all in 2,500 steps).
MAX_VALUE = 250
MAX_OPERAND = 50
TEST_FRACTION = 1 / 8


@dataclass(frozen=True)
class Problem(base.Problem):
    """An arith problem: its answer an int (None for a user's own question), its level its number of steps; the
    prompt is the question as one user message (the embedded models are chat models)."""

    def extract(self, text: str) -> int | None:
        return extract_answer(text)


# -- the story templates ----------------------------------------------------------------------------------------
# {n}: a person's name, {s}/{o}: subject/object pronoun, {v}: the start value, {x}: the step's operand.
# Each domain tells the same four operations its own way, with several phrasings for each.

NAMES = [("Mia", "she", "her"), ("Leo", "he", "him"), ("Ava", "she", "her"), ("Sam", "he", "him"),
         ("Zoe", "she", "her"), ("Max", "he", "him"), ("Ivy", "she", "her"), ("Ben", "he", "him"),
         ("Nora", "she", "her"), ("Omar", "he", "him"), ("Lena", "she", "her"), ("Ravi", "he", "him"),
         ("Emma", "she", "her"), ("Jack", "he", "him"), ("Aiko", "she", "her"), ("Tom", "he", "him")]

DOMAINS: dict[str, dict[str, list[str]]] = {
    "shopping": {
        "items": ["apples", "pens", "stickers", "cookies", "cards", "eggs", "marbles", "candles"],
        "start": ["{n} has {v} {i}.", "{n} buys {v} {i}.", "A shop gives {n} {v} {i}."],
        "+": ["{S} buys {x} more.", "A friend gives {o} {x} more.", "{S} finds {x} more."],
        "-": ["{S} gives away {x}.", "{S} sells {x}.", "{S} loses {x}."],
        "*": ["{S} ends up with {x} times as many.", "{S} buys more until {s} has {x} times as many."],
        "/": ["{S} keeps 1/{x} of them.", "{S} splits them into {x} equal bags and keeps one bag."],
        "ask": ["How many {i} does {s} have now?", "How many {i} are left?"],
    },
    "travel": {
        "items": ["people", "riders", "tourists", "children"],
        "start": ["A bus leaves with {v} {i}.", "A train has {v} {i} on board.", "A ferry carries {v} {i}."],
        "+": ["At the next stop {x} get on.", "{x} more climb aboard.", "Then {x} join."],
        "-": ["At the next stop {x} get off.", "{x} leave.", "Then {x} step off."],
        "*": ["At the hub the crowd grows to {x} times as many.", "Then there are {x} times as many."],
        "/": ["Only 1/{x} of them ride on.", "They split into {x} equal groups and one group stays."],
        "ask": ["How many {i} are on board now?", "How many {i} ride at the end?"],
    },
    "recipe": {
        "items": ["grams of flour", "grams of sugar", "grams of rice", "ml of milk"],
        "start": ["A recipe uses {v} {i}.", "{n} starts a dough with {v} {i}.", "A bowl holds {v} {i}."],
        "+": ["{S} adds {x} more.", "The cook stirs in {x} more.", "Then {x} more go in."],
        "-": ["{S} takes out {x}.", "{x} spill.", "Then {x} are set aside."],
        "*": ["{S} makes {x} times the amount.", "The batch is scaled up {x} times."],
        "/": ["{S} makes only 1/{x} of it.", "It is cut into {x} equal parts and one part is kept."],
        "ask": ["How many {i} are used?", "How many {i} are in the bowl now?"],
    },
    "savings": {
        "items": ["dollars", "coins", "euros", "tokens"],
        "start": ["{n} saves {v} {i}.", "{n} has {v} {i} in a jar.", "{n} wins {v} {i}."],
        "+": ["{S} earns {x} more.", "{S} gets {x} as a gift.", "Then {s} adds {x}."],
        "-": ["{S} spends {x}.", "{S} pays {x} for a book.", "Then {s} gives {x} to a friend."],
        "*": ["{S} then has {x} times as much.", "A bonus makes it {x} times as much."],
        "/": ["{S} keeps 1/{x} of it.", "{S} splits it into {x} equal shares and keeps one."],
        "ask": ["How many {i} does {s} have now?", "How many {i} are left?"],
    },
    "farm": {
        "items": ["sheep", "hens", "goats", "cows", "ducks"],
        "start": ["A farm has {v} {i}.", "{n} keeps {v} {i}.", "A field holds {v} {i}."],
        "+": ["{x} more are born.", "{S} buys {x} more.", "Then {x} more arrive."],
        "-": ["{x} are sold.", "{x} wander off.", "Then {s} sells {x}."],
        "*": ["The herd grows to {x} times its size.", "Years later there are {x} times as many."],
        "/": ["Only 1/{x} of them stay.", "They are split into {x} equal pens and one pen is kept."],
        "ask": ["How many {i} are there now?", "How many {i} are left?"],
    },
    "library": {
        "items": ["books", "maps", "comics", "letters"],
        "start": ["A library has {v} {i}.", "{n} owns {v} {i}.", "A shelf holds {v} {i}."],
        "+": ["{x} more are donated.", "{S} adds {x} more.", "Then {x} are returned."],
        "-": ["{x} are borrowed.", "{S} throws out {x}.", "Then {x} are lent out."],
        "*": ["The collection grows to {x} times its size.", "Then there are {x} times as many."],
        "/": ["Only 1/{x} of them are kept.", "They fill {x} equal boxes and one box stays."],
        "ask": ["How many {i} are there now?", "How many {i} remain?"],
    },
}


# -- generation -------------------------------------------------------------------------------------------------

def _operand(rng: random.Random, op: str, value: int) -> int | None:
    """A random operand for `value op x` that keeps every number within 1..MAX_VALUE, or None if none does."""
    if op == "+":
        hi = min(MAX_OPERAND, MAX_VALUE - value)
        return rng.randint(1, hi) if hi >= 1 else None
    if op == "-":
        hi = min(MAX_OPERAND, value - 1)
        return rng.randint(1, hi) if hi >= 1 else None
    if op == "*":  # a one-digit multiplier on a value of at most two digits
        options = [x for x in range(2, 10) if value <= MAX_OPERAND and value * x <= MAX_VALUE]
    else:  # exact division by one digit
        options = [x for x in range(2, 10) if value % x == 0]
    return rng.choice(options) if options else None


def _apply(op: str, a: int, b: int) -> int:
    return {"+": a + b, "-": a - b, "*": a * b, "/": a // b}[op]


def _compose(rng: random.Random, level: int) -> tuple[str, str, int]:
    """One problem of `level` steps: (question, solution, answer)."""
    domain = DOMAINS[rng.choice(sorted(DOMAINS))]
    name, s, o = rng.choice(NAMES)
    fields = {"n": name, "s": s, "o": o, "S": s.capitalize(), "i": rng.choice(domain["items"])}
    value = rng.randint(2, MAX_OPERAND)
    start = rng.choice(domain["start"])
    sentences = [start.format(v=value, **fields)]
    # a story that names nobody does not go on with "she" or "him"
    phrasings = {op: [t for t in domain[op] if "{n}" in start or not re.search(r"\{[sSo]\}", t)] for op in "+-*/"}
    equations = []
    for _ in range(level):
        ops = ["+", "-", "*", "/"]
        rng.shuffle(ops)
        for op in ops:  # the first operation (in random order) that has a valid operand
            x = _operand(rng, op, value)
            if x is not None:
                break
        sentences.append(rng.choice(phrasings[op]).format(x=x, **fields))
        result = _apply(op, value, x)
        equations.append(f"{value}{op}{x}={result}")
        value = result
    sentences.append(rng.choice([t for t in domain["ask"] if "{n}" in start or "{s}" not in t]).format(**fields))
    return " ".join(sentences), "\n".join(equations + [f"Answer: {value}"]), value


def split_of(question: str) -> Split:
    """The split a question belongs to, decided by a hash of its text alone."""
    h = int.from_bytes(hashlib.sha256(question.encode()).digest()[:8], "big")
    return "test" if h < TEST_FRACTION * 2**64 else "train"


def problem(split: Split, seed: int, index: int, level: int | None = None) -> Problem:
    """The `index`-th problem of `split` for `seed`. Test problems cycle through the levels 1..6 (mixed
    difficulty); training problems draw their level at random unless one is given."""
    if split not in ("train", "test"):
        raise ValueError(f"split={split!r} must be 'train' or 'test'")
    for attempt in range(10_000):
        rng = random.Random(f"arith:{split}:{seed}:{index}:{attempt}")
        lvl = level or (1 + index % MAX_LEVEL if split == "test" else rng.randint(1, MAX_LEVEL))
        question, solution, answer = _compose(rng, lvl)
        if split_of(question) == split:
            return Problem(f"arith-{split}-{seed}-{index}", question, answer, solution, lvl)
    raise RuntimeError("unreachable: no problem of the split in 10,000 attempts")


def problems(seed: int, limit: int, split: Split = "test") -> list[Problem]:
    """`limit` problems of `split` for `seed`: a deterministic evaluation set (the default split)."""
    return [problem(split, seed, i) for i in range(limit)]


# -- slips: the mistakes of a careless solver, for training data ------------------------------------------------

_EQUATION = re.compile(r"(\d+)([-+*/])(\d+)=(-?\d+)")
SLIPS = (-10, -2, -1, 1, 2, 10)  # off by one or two, a dropped or doubled carry


def with_slips(solution: str, rate: float, rng: random.Random) -> str:
    """`solution` as a careless solver would write it: each equation's result is off (by one of SLIPS, or by the
    next step's divisor, so the division stays exact) with probability `rate`, and every later step works on
    from the wrong value. The answer line states the last value written.

    A model trained on such solutions puts a little probability on many different wrong results, so its
    mistakes vary from sample to sample, as a large model's do; one trained on clean solutions only learns this
    table by heart and, where it is wrong, is wrong the same way in most samples, which no vote can fix.
    """
    steps = [(op, int(x)) for _, op, x, _ in _EQUATION.findall(solution)]
    if rate <= 0 or not steps:
        return solution
    value = int(_EQUATION.match(solution).group(1))
    lines = []
    for i, (op, x) in enumerate(steps):
        result = _apply(op, value, x)
        if rng.random() < rate:
            options = [d for d in SLIPS + tuple(x * s for _, x in steps[i + 1:i + 2] for s in (-1, 1))
                       if _continues(result + d, steps[i + 1:])]
            if options:
                result += rng.choice(options)
        lines.append(f"{value}{op}{x}={result}")
        value = result
    return "\n".join(lines + [f"Answer: {value}"])


def _continues(value: int, steps: list[tuple[str, int]]) -> bool:
    """Whether `steps` can be worked on from `value` with every number in 1..999 and every division exact."""
    for op, x in steps:
        if not 1 <= value <= 999 or (op == "/" and value % x):
            return False
        value = _apply(op, value, x)
    return 1 <= value <= 999


# -- answers ----------------------------------------------------------------------------------------------------

_ANSWER = re.compile(r"Answer:\s*(-?\d+)")


def extract_answer(text: str) -> int | None:
    """The number on the last `Answer: N` line of a completion, or None if there is none."""
    found = _ANSWER.findall(text)
    return int(found[-1]) if found else None


def is_correct(completion: str, problem: Problem) -> bool:
    return extract_answer(completion) == problem.answer
