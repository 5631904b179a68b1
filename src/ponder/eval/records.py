"""A run's folder: `records.jsonl` (one JSON record per unit of work, appended whole and fsynced one by one),
`manifest.json` (what the run is: its config, ponder's version, the hashes of its model files).

A record is one line written by a single `write` on a file opened for appending, then fsynced, so a run killed
at any moment loses at most the records in flight: a line cut short by a crash (only possible at the very end)
is cut off when the folder is opened again, and the rerun skips every record already there.

    records = open_run(out, task="arith", model="ponder-arith")  # resumes: records.done holds the keys written
    if key not in records.done:
        records.append(Record(key=key, ...))

Two kinds of record share a file: a strategy's answer to one problem (Record, keyed `STRATEGY@BUDGET/ID`) and a
sample pool's samples of one problem (PoolRecord, keyed `pool@N/ID`); each line is its record's `to_dict()`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ponder.errors import InvalidArgumentError

RECORDS = "records.jsonl"
MANIFEST = "manifest.json"


@dataclass
class Record:
    """A strategy's Result on one problem, graded: one line of records.jsonl."""

    key: str  # STRATEGY[OPTIONS]@BUDGET/PROBLEM_ID
    id: str
    level: int  # a difficulty, for accuracy by level (0 where the dataset has none)
    reference: Any  # the problem's answer
    answer: Any  # the strategy's
    correct: bool
    samples: int
    tokens: dict  # as Result.tokens: {"prompt", "generated", "reasoning", "answer", "by_model": {...}} (an earlier
    # version's lack "reasoning" and "answer": all their tokens are answer tokens)
    stop_reason: str
    wall_s: float
    votes: dict
    details: dict
    candidates: list[str]  # each candidate's text
    cost: float | None = None  # dollars (a run with a price table; an earlier version's: None)

    @property
    def hit(self) -> bool:
        """What the progress bar counts: the answer is right."""
        return self.correct

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Record:
        return cls(**known_fields(cls, data, f"record {data.get('key')!r}"))


@dataclass
class PoolRecord:
    """Every sample of a pool on one problem (answers, grades, tokens, logprobs, verifier scores), in the order
    drawn: one line of records.jsonl."""

    key: str  # pool@N/PROBLEM_ID
    id: str
    level: int
    reference: Any
    answers: list
    correct_samples: list[bool]
    tokens_samples: list[int]
    logprobs: list[float]
    scores: list[float] | None  # None: no verifier chosen
    tokens: dict
    wall_s: float
    reasoning_samples: list[int] | None = None  # of each sample's tokens, those inside its think block (None: a
    # record of an earlier version, none)

    @property
    def hit(self) -> bool:
        """What the progress bar counts: some sample is right (coverage)."""
        return any(self.correct_samples)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PoolRecord:
        return cls(**known_fields(cls, data, f"record {data.get('key')!r}"))


def known_fields(cls: type, data: dict, what: str) -> dict:
    """The entries of `data` (read from a file) that are fields of the dataclass `cls`. A field with a default may
    be absent (a file written before it existed); one without is needed, or it is one clear error."""
    present = {f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data}
    missing = [f.name for f in dataclasses.fields(cls) if f.name not in data
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise InvalidArgumentError(f"{what} lacks {', '.join(missing)} (written by hand, or by another version?)")
    return present


class RecordFile:
    def __init__(self, folder: str | Path, manifest: dict):
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:  # a file of that name, no permission...: the user's to fix, in one line
            raise InvalidArgumentError(f"cannot use {str(folder)!r} as a run folder: {error.strerror}") from None
        self.path = self.folder / RECORDS
        self._check_manifest(manifest)
        self.records: list[dict] = self._read()  # as read back: each kind's from_dict types its own
        self.done = {r["key"] for r in self.records}
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, record: Record | PoolRecord) -> None:
        """Write one record whole (one write of one line) and make it durable before returning."""
        data = record.to_dict()
        line = (json.dumps(data, ensure_ascii=False) + "\n").encode("utf-8")
        written = os.write(self._fd, line)
        if written != len(line):  # a full disk: cut the partial line off again, so no torn line stays
            os.ftruncate(self._fd, os.lseek(self._fd, 0, os.SEEK_END) - written)
            raise OSError(f"{self.path}: only {written} of {len(line)} bytes written")
        os.fsync(self._fd)
        self.records.append(data)
        self.done.add(record.key)

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _read(self) -> list[dict]:
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):  # a line cut short by a crash: it was in flight, so it is dropped and redone
            with open(self.path, "r+b") as f:
                f.truncate(end)
                os.fsync(f.fileno())
        records = []
        for number, line in enumerate(data[:end].splitlines(), start=1):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                raise InvalidArgumentError(f"{self.path}, line {number}: not a record (the file was changed by "
                                           "hand?); move it away to start the run afresh") from None
        return records

    def _check_manifest(self, manifest: dict) -> None:
        path = self.folder / MANIFEST
        if path.exists():
            old = json.loads(path.read_text(encoding="utf-8"))
            changed = sorted(k for k in set(old["run"]) | set(manifest["run"])
                             if old["run"].get(k) != manifest["run"].get(k))
            if changed:
                diff = ", ".join(f"{k}: {old['run'].get(k)!r} -> {manifest['run'].get(k)!r}" for k in changed)
                raise InvalidArgumentError(f"{self.folder} holds a run with other settings ({diff}); use another "
                                           "--out, or the same settings to resume it")
            return
        write_atomic(path, json.dumps(manifest, indent=2) + "\n")


def open_run(folder: str | Path, *, command: list[str] | None = None, **run) -> RecordFile:
    """The record file of the run `run` (its settings: task, data, model, draft, backend, ...) in `folder`. Its
    manifest holds the sha256 of the model's files and of the data file, so a rerun resumes only the same run on
    the same weights and data, and the command that started it (default: this process's arguments)."""
    import ponder
    from ponder.models import resolve

    hashes = {}
    for role in ("model", "draft"):
        if run.get(role) and run.get("backend", "local") == "local":  # a remote server's weights are not these files
            hashes[role] = file_hashes(resolve(run[role]))
    data = run.get("data")
    if data and Path(data).is_file():
        run["data_sha256"] = hashlib.sha256(Path(data).read_bytes()).hexdigest()
    run["model_sha256"] = hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()[:16]
    manifest = {"run": run, "ponder_version": ponder.__version__, "model_files": hashes,
                "command": sys.argv[1:] if command is None else command}
    return RecordFile(folder, manifest)


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` all at once (a reader sees the old file or the new one, never a mix)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def file_hashes(folder: str | Path) -> dict[str, str]:
    """sha256 of each file of a model folder that loading reads (weights, config, tokenizer), by name: not its
    card or other notes (*.md), so that editing a card does not make a half-done run refuse to resume."""
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if p.is_file() and p.suffix != ".md"}
