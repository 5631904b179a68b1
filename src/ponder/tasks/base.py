"""What every task shares: the Problem (its prompt, its reference, how to read and grade an answer), prompt
styles, and reading a benchmark's records from a local JSONL file (plain or .gz) or a Hugging Face hub id.

    problems = gsm8k.load("../shared/data/gsm8k/test.jsonl")       # or a hub id: "openai/gsm8k"
    problem = problems[0]
    problem.prompt()                       # chat messages (style "chat") or a few-shot text (style "few-shot")
    problem.extract(text)                  # the answer in a model's text (verifiers.answer.grade grades it)

Tasks sit below verifiers (DESIGN.md): they say how an answer is written and which grader reads it, the
verifiers decide whether it is right.
"""

from __future__ import annotations

import functools
import gzip
import json
import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ponder.errors import InvalidArgumentError

STYLES = ("chat", "few-shot")
MATH_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


@dataclass(frozen=True)
class Problem:
    """One problem of a benchmark.

    `question` is the problem as the dataset states it, `answer` its reference answer (None for a user's own
    question), `solution` the reference worked solution (what the `reference` strategy answers with), `level`
    a difficulty for per-level accuracy (0 where the dataset has none). `style` picks the prompt: "chat"
    (messages, for the model's chat template: the question, then `instruction` if any) or "few-shot" (a text
    of worked examples, `shots`, for base models).
    `grader` says how verifiers.answer.grade compares an answer with the reference: "exact" (numbers as
    exact fractions, other answers through math-verify) or "code" (the program runs the task's tests in the
    sandbox; `tests` and `entry_point` hold them).
    """

    id: str
    question: str
    answer: Any
    solution: str = ""
    level: int = 0
    style: str = "chat"
    instruction: str = ""  # appended to a chat prompt, e.g. how to give the final answer
    shots: tuple = field(default=(), repr=False, compare=False)  # few-shot examples: (question, worked solution)
    stop: tuple = ()  # stop strings every sample of this problem needs (a few-shot prompt's next question)
    grader: str = "exact"
    tests: str = field(default="", repr=False)  # code tasks: the tests, defining check(candidate)
    entry_point: str = ""  # code tasks: the function the tests call

    def prompt(self) -> str | list[dict]:
        if self.style == "few-shot":
            shots = "".join(f"Question: {q}\nAnswer: {a}\n\n" for q, a in self.shots)
            return f"{shots}Question: {self.question}\nAnswer:"
        content = f"{self.question}\n{self.instruction}" if self.instruction else self.question
        return [{"role": "user", "content": content}]

    def extract(self, text: str) -> Any:
        """The final answer in a model's text (None if it gives none)."""
        return extract_number(until_next_question(text))


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


def extract_math(text: str) -> str | None:
    """A math answer as math-verify reads a model's text (parse_math): the last \\boxed{...} (or the last boxes
    listed together: "\\boxed{2} and \\boxed{3}"); else LaTeX or a plain expression after "final answer is" /
    "Answer:" / "answer is"; else the last LaTeX ($...$, \\(...\\)) or plain expression ("1/2", "3.5"). Bare LaTeX
    that math-verify would miss or cut (a text that is one answer, "2\\sqrt{5}"; an "Answer: (1, 2)" line) is put
    between $...$ first. The last number only where math-verify finds nothing. The answer comes back as
    math-verify wrote it (normalised LaTeX: "\\frac{1}{2}", "\\text{(C)}", "[2,5)")."""
    text = until_next_question(text).strip()
    found = parse_math(_delimit_bare_answers(text))
    if found:  # a plain expression's match takes the sentence's full stop along ("3/56.")
        return str(found[-1]).strip().rstrip(".").rstrip() or None
    return extract_number(text)


def _delimit_bare_answers(text: str) -> str:
    """`text` with an answer written as bare LaTeX put between $...$, where math-verify would miss or cut it (it
    finds LaTeX only inside delimiters, and reads "2" out of "Answer: 2\\sqrt{5}"): a whole text that is one answer
    ("2\\sqrt{5}", "(1, 2)", "x^2+2x+1") and the rest of an "Answer:" / "answer is" line that is one answer."""
    if _is_bare_answer(text):
        return _delimited(text)
    return _ANSWER_LINE.sub(lambda m: m[1] + (_delimited(m[2]) if _is_bare_answer(m[2]) else m[2]), text)


def _delimited(answer: str) -> str:
    answer = _unwrapped(answer)
    # one word ("Evelyn", "even") is a text answer, not a product of one-letter symbols
    return f"$\\text{{{answer}}}$" if answer.isalpha() else f"${answer}$"


_ANSWER_LINE = re.compile(r"((?i:\banswer(?:\s+is)?\**\s*:|\banswer\s+is\b)[ \t*]*)([^\n]+)")
# A word of two letters or more that is not a LaTeX command: prose, not an answer's symbols ("2xy" aside, which
# no MATH answer writes). Commands that hold words (\text{ cm}, \begin{pmatrix}) are removed before looking.
_PROSE = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{2,}")
_WORDY_COMMAND = re.compile(r"\\(?:text\w*|mbox|mathrm|operatorname|begin|end)\s*\{[^{}]*\}")
# Where math-verify looks for LaTeX: between $...$, \\(...\\), \\[...\\], in \\boxed{} ("\\$36" is a dollar sign)
MATH_DELIMITER = re.compile(r"(?<!\\)\$|\\boxed|\\\(|\\\[")


def _unwrapped(answer: str) -> str:
    """An answer without the markdown bold or the full stop around it."""
    return answer.strip().strip("*").strip().rstrip(".").rstrip()


def _is_bare_answer(text: str) -> bool:
    """Whether `text` is one answer on its own ("2\\sqrt{5}", "(1, 2)", "\\text{east}", "Evelyn"): one line, no
    math delimiters, no prose (one word is an answer)."""
    answer = _unwrapped(text)
    return (bool(answer) and "\n" not in answer and not MATH_DELIMITER.search(answer)
            and (answer.isalpha() or not _PROSE.search(_WORDY_COMMAND.sub("", answer))))


# math-verify bounds one parse or comparison with SIGALRM, which only the main thread may set; off it (a Ray
# actor's event loop, a worker thread) it runs unbounded, as math-verify advises, rather than raising.
MATH_TIMEOUT = 5  # seconds


def math_timeout() -> int | None:
    """math-verify's time limit on one parse or comparison here: MATH_TIMEOUT on the main thread, else None."""
    return MATH_TIMEOUT if threading.current_thread() is threading.main_thread() else None


def parse_math(text: str) -> list:
    """math-verify's `parse` of `text`, its first match only: [value, answer as written], [answer as written]
    where it cannot be parsed, or [] where `text` holds no answer (or its parse ran out of time). It looks for
    the last \\boxed{} before anything else, as open-r1 and lighteval grade MATH, then for LaTeX, then for plain
    expressions."""
    math_verify = _load_math_verify()
    # first_match: the value and the text come from one match (in "any_match" a match that does not parse gives
    # the text and an earlier one the value)
    configs = (math_verify.LatexExtractionConfig(boxed_match_priority=0), math_verify.ExprExtractionConfig())
    return math_verify.parse(text, configs, fallback_mode="first_match", extraction_mode="first_match",
                             parsing_timeout=math_timeout())


@functools.cache
def _load_math_verify():
    """math-verify, imported on first use (it brings sympy and an ANTLR parser: a second at start)."""
    import math_verify

    # math-verify logs a parse or comparison out of time (with the whole text) and its timeout being off as
    # warnings; ponder counts the first as no answer or not equal and turns the second off on purpose, so a user
    # is told neither.
    for name in ("math_verify.parser", "math_verify.grader"):
        logging.getLogger(name).addFilter(lambda record: record.levelno >= logging.ERROR)
    return math_verify


def until_next_question(text: str) -> str:
    """A few-shot completion up to where the model starts the next question on its own."""
    return text.split("\nQuestion:")[0]


def check_style(style: str) -> str:
    if style not in STYLES:
        raise InvalidArgumentError(f"prompt style {style!r}; choose from {list(STYLES)}")
    return style


def prompting(style: str, shots: tuple, instruction: str = MATH_INSTRUCTION) -> dict:
    """A math problem's prompt fields for `style`: the chat instruction, the few-shot examples, and the stop
    string that ends a few-shot answer where the model would write the next question."""
    return dict(style=check_style(style), instruction=instruction, shots=shots,
                stop=("\nQuestion:",) if style == "few-shot" else ())


def read_records(source: str | Path, required: tuple[str, ...], split: str = "test", hub_config: str | None = None
                 ) -> Iterator[tuple[int, dict]]:
    """(line number, record) for each record of a JSONL file (plain or .gz); or, when `source` is not a file but
    looks like a hub id ("owner/name"), for each record of that dataset's `split` (and `hub_config`) through the
    `datasets` library. Every record must have the `required` fields. A missing, malformed or empty file is one
    InvalidArgumentError naming the file (and the line)."""
    path = Path(source)
    if path.exists():
        records = _file_records(path)
    elif re.fullmatch(r"[\w.-]+/[\w.-]+", str(source)) and not str(source).endswith((".jsonl", ".gz", ".json")):
        records = enumerate(_hub_records(str(source), split, hub_config), start=1)
    else:
        raise InvalidArgumentError(f"data file {source} does not exist")
    count = 0
    for count, (number, record) in enumerate(records, start=1):
        missing = [key for key in required if not isinstance(record, dict) or key not in record]
        if missing:
            raise InvalidArgumentError(f"{source}, line {number}: no field {missing[0]!r} "
                                       f"(a record needs {list(required)})")
        yield number, record
    if count == 0:  # else an evaluation of no problems would divide by zero when it scores them
        raise InvalidArgumentError(f"data file {source} holds no records")


def _file_records(path: Path) -> Iterator[tuple[int, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    yield number, json.loads(line)
                except json.JSONDecodeError as error:
                    raise InvalidArgumentError(f"{path}, line {number}: not valid JSON ({error.msg})") from None
    except (OSError, EOFError, UnicodeDecodeError) as error:  # a truncated .gz, a binary file...
        raise InvalidArgumentError(f"{path}: cannot be read as {'gzip ' if opener is gzip.open else ''}JSONL "
                                   f"({error})") from None


def _hub_records(name: str, split: str, config: str | None) -> list[dict]:
    try:
        import datasets
    except ImportError:
        raise InvalidArgumentError(f"{name!r} is not a file; loading it from the Hugging Face hub needs the "
                                   "`datasets` library (pip install datasets)") from None
    try:
        return [dict(r) for r in datasets.load_dataset(name, config, split=split)]
    except Exception as error:  # no network, no such dataset or split
        raise InvalidArgumentError(f"cannot load {name!r} (split {split!r}) from the hub: {error}") from None
