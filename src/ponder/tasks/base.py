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

import gzip
import json
import re
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
    """A math answer: the last \\boxed{...}; else what follows the last "answer is" / "Answer:"; else the last
    number of the last $...$ (a signature after a solution is not its answer); else the last number. Wrappers
    that do not change the value (\\text{...}, a trailing period, $...$) are removed."""
    text = until_next_question(text)
    found = extract_boxed(text)
    if found is None:
        said = re.findall(r"(?:answer is|Answer:)\s*(.+)", text)
        spans = re.findall(r"\$([^$]+)\$", text)  # else the last number in math mode, then anywhere
        found = said[-1].strip().rstrip(".").strip("$ ") if said else extract_number(spans[-1] if spans else text)
    if found is None:
        return None
    found = re.sub(r"^\\text\{(.*)\}$", r"\1", found.strip()).strip()
    return found.rstrip(".").strip() or None


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
