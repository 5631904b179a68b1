"""Synthetic thinking traces for ponder-arith-think: shaped like a reasoning model's, built from arith problems.

Inside the think block (which the chat template opens) a trace works the problem one equation per line, as
ponder-arith does, and around that does what R1/Qwen3-style traces do::

    23+15=39                                  a slip: the result is off (rate `slip`)
    check 15+23=38, not 39. Wait, 23+15=38    a check that recomputes the step catches it and redoes it
    Wait, check again: 23+15=38 ok            doubt: an earlier step re-checked; the steps after it slip more
    38/2=19
    check 19*2=38 ok
    </think>

    Answer: 19

What is put into the data, and how:
- **Slips**: an equation's result is off (by 1, 2 or 10, or by the next divisor so that division stays exact, as
  `arith.with_slips`) with probability `slip` (0.05) while the trace is calm and `doubtful_slip` (0.45) once it is
  in doubt, and the work goes on from the value written.
- **Checks**: after each step, with the trace's own `care` (uniform in 0.1..0.5, so the amount of checking
  varies from trace to trace), a check recomputes it (the sum or product commuted, a difference or quotient
  inverted). A check after a slip catches it with probability `catch` (0.6; `doubtful_catch`, 0.25, in doubt: then
  "Wait", and the step is redone right); otherwise it repeats the slip and says "ok": some slips are caught, some
  not.
- **Doubt, and hesitation that grows with it**: before each step after the first, doubt sets in without a cause
  with probability `doubt` (0.2), and a slip (caught or not) brings it on for the steps after. Doubt shows before
  it acts: the first step in doubt starts with "Wait, check again:" re-checking an earlier step as written, as do
  later steps with probability `hesitate` (0.9); every step in doubt is checked with probability 0.9, and at the
  end, with probability `reread` (0.9), the whole work is re-read. A trace in doubt is longer and slips more often,
  and since the doubt is written down before the slips it brings, a model that cannot tell its own slips still
  learns when it is likely to slip: as in real reasoning models, long, hesitant traces are wrong more often.
- **No thinking** (`nothink` of the examples): the template's empty think block (enable_thinking=False), then the
  answer straight away.
- **Cut thinking** (`cut` of the examples): the trace stops at a random character, the end marker follows (as a
  thinking budget forces it), then the right answer: the model learns to answer from unfinished work. The end
  marker itself is not trained on there (nor anywhere but at a trace's natural end), so the model never learns to
  stop thinking mid-step on its own.
The answer after `</think>` is the last value worked out (right or wrong), as `Answer: N`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ponder.tasks import arith

START, END = "<think>", "</think>"
CHECK_AGAIN = "Wait, check again: "


@dataclass(frozen=True)
class TraceConfig:
    slip: float = 0.05  # a step's result is off, while calm
    doubtful_slip: float = 0.45  # ... once in doubt
    catch: float = 0.6  # a check after a slip catches it, while calm
    doubtful_catch: float = 0.25  # ... once in doubt
    doubt: float = 0.2  # before each step after the first, doubt sets in without a cause
    hesitate: float = 0.9  # a step in doubt (after the first) starts by re-checking an earlier one
    reread: float = 0.9  # a trace that showed doubt re-reads all its work at the end
    nothink: float = 0.15
    cut: float = 0.1


# (segment, learned): the completion after the chat template's generation prompt, in pieces; a piece not learned
# (labels -100) is one the engine, not the model, writes
Segments = list[tuple[str, bool]]


def _apply(op: str, a: int, x: int) -> int:
    return {"+": a + x, "-": a - x, "*": a * x, "/": a // x}[op]


def _check(a: int, op: str, x: int, r: int, right: int) -> tuple[str, int, int]:
    """A check of `a op x = r` done right: (its equation, the value it gives, the value it is compared with)."""
    if op == "+":
        return f"{x}+{a}", a + x, r
    if op == "*":
        return f"{x}*{a}", a * x, r
    if op == "-":
        return f"{r}+{x}", r + x, a
    return f"{r}*{x}", r * x, a


def _slipped(value: int, op: str, x: int, rest: list[tuple[str, int]], rng: random.Random) -> int:
    right = _apply(op, value, x)
    options = [d for d in arith.SLIPS + tuple(y * s for _, y in rest[:1] for s in (-1, 1))
               if arith._continues(right + d, rest)]
    return right + rng.choice(options) if options else right


def trace(problem: arith.Problem, rng: random.Random, cfg: TraceConfig = TraceConfig()) -> tuple[str, int]:
    """A thinking trace for `problem` (the text inside the think block, ending in a newline) and its answer."""
    steps = [(op, int(x)) for _, op, x, _ in arith._EQUATION.findall(problem.solution)]
    value = int(arith._EQUATION.match(problem.solution).group(1))
    care = rng.uniform(0.1, 0.5)
    doubtful = shown = False  # in doubt; and the doubt written down
    written: list[str] = []  # the equations as written, for re-checks
    lines: list[str] = []
    for i, (op, x) in enumerate(steps):
        doubtful = doubtful or bool(written) and rng.random() < cfg.doubt
        if doubtful and (not shown or rng.random() < cfg.hesitate):  # doubt shows: an earlier step re-checked
            lines.append(CHECK_AGAIN + rng.choice(written) + " ok")
            shown = True
        right = _apply(op, value, x)
        slipped = rng.random() < (cfg.doubtful_slip if shown else cfg.slip)
        result = _slipped(value, op, x, steps[i + 1:], rng) if slipped else right
        lines.append(f"{value}{op}{x}={result}")
        slip = result != right
        if rng.random() < (0.9 if shown or slip and rng.random() < 0.5 else care):
            equation, got, against = _check(value, op, x, result, right)
            if slip and rng.random() < (cfg.doubtful_catch if shown else cfg.catch):
                lines.append(f"check {equation}={got}, not {against}. Wait, {value}{op}{x}={right}")
                result = right
            elif slip:  # the check repeats the slip
                lines.append(f"check {equation}={against} ok")
            else:
                lines.append(f"check {equation}={got} ok")
        doubtful = doubtful or slip
        written.append(f"{value}{op}{x}={result}")
        value = result
    if shown and rng.random() < cfg.reread:
        lines.append(CHECK_AGAIN + ", ".join(written) + " ok")
    return "\n".join(lines) + "\n", value


def example(problem: arith.Problem, rng: random.Random, cfg: TraceConfig = TraceConfig()) -> tuple[bool, Segments]:
    """One training example: (enable_thinking, completion segments). The chat template's generation prompt opens
    the think block (and, without thinking, closes it empty), so a completion starts inside it."""
    draw = rng.random()
    if draw < cfg.nothink:
        return False, [(f"Answer: {problem.answer}", True)]
    text, answer = trace(problem, rng, cfg)
    if draw < cfg.nothink + cfg.cut:
        at = rng.randrange(0, len(text))
        return True, [(text[:at], True), (END, False), (f"\n\nAnswer: {problem.answer}", True)]
    return True, [(text + END + f"\n\nAnswer: {answer}", True)]
