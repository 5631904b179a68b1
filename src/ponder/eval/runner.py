"""Run a strategy over a problem set and measure it: accuracy (overall and per level), tokens, time.

Every problem is submitted at once; the generator batches them. With `out`, one JSON record per problem is
appended to `results.jsonl` (a whole line per write, flushed) and the summary goes to `summary.json`.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import defaultdict
from pathlib import Path

from ponder.backends.base import Generator
from ponder.errors import InvalidArgumentError
from ponder.progress import progress_bar
from ponder.strategies import STRATEGIES, StrategyConfig
from ponder.verifiers import Verifier
from ponder.verifiers.answer import equivalent


def evaluate(task: str, problems: list, strategy: str, generator: Generator, config: StrategyConfig, *,
             verifier: Verifier | None = None, out: str | Path | None = None, progress: bool = True,
             concurrency: int | None = None, **meta) -> dict:
    """Evaluate `strategy` on `problems`; returns the summary (see DESIGN.md, `ponder eval --json`).

    `concurrency` caps the problems in flight at once (None: all of them, the most throughput; 1: one at a
    time, so `wall_s_per_problem` is each problem's latency)."""
    if concurrency is not None and concurrency < 1:
        raise InvalidArgumentError(f"concurrency={concurrency} must be >= 1")
    if strategy not in STRATEGIES:
        raise InvalidArgumentError(f"unknown strategy {strategy!r}; choose from {sorted(STRATEGIES)}")
    records_file = None
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        records_file = open(Path(out) / "results.jsonl", "a", encoding="utf-8")
    started = time.perf_counter()
    try:
        records = asyncio.run(_run_all(problems, STRATEGIES[strategy], generator, verifier, config, records_file,
                                       progress, f"{strategy}@{config.budget}", concurrency))
    finally:
        if records_file:
            records_file.close()
    wall_s = time.perf_counter() - started

    by_level = defaultdict(list)
    for r in records:
        by_level[r["level"]].append(r["correct"])
    n = len(records)
    summary = {
        "task": task,
        "strategy": strategy,
        "budget": config.budget,
        "n_problems": n,
        "accuracy": round(sum(r["correct"] for r in records) / n, 4),
        "accuracy_by_level": {str(k): round(sum(v) / len(v), 4) for k, v in sorted(by_level.items())},
        "samples_per_problem": round(sum(r["samples"] for r in records) / n, 2),
        "tokens_generated_per_problem": round(sum(r["tokens"]["generated"] for r in records) / n, 1),
        "tokens_prompt_per_problem": round(sum(r["tokens"]["prompt"] for r in records) / n, 1),
        "tokens_generated_per_problem_by_model": {
            name: round(sum(r["tokens"]["by_model"].get(name, {}).get("generated", 0) for r in records) / n, 1)
            for name in sorted({name for r in records for name in r["tokens"]["by_model"]})},
        "wall_s": round(wall_s, 2),
        "wall_s_per_problem": round(wall_s / n, 4),
        "latency_s_per_problem": round(sum(r["wall_s"] for r in records) / n, 4),
        "concurrency": concurrency or n,
        "temperature": config.sampling.temperature,
        "verifier": verifier.name if verifier else None,
        **meta,
    }
    if out is not None:
        _write_atomic(Path(out) / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


async def _run_all(problems, run, generator, verifier, config, records_file, progress, label, concurrency
                   ) -> list[dict]:
    gate = asyncio.Semaphore(concurrency or len(problems))

    async def one(problem):
        async with gate:
            result = await run(problem, generator, verifier, config)
        return {
            "id": problem.id,
            "level": problem.level,
            "reference": problem.answer,
            "answer": result.answer,
            "correct": equivalent(result.answer, problem.answer),
            "samples": result.samples,
            "tokens": result.tokens,
            "stop_reason": result.stop_reason,
            "wall_s": result.wall_s,
            "votes": result.votes,
            "details": result.details,
            "candidates": [c.text for c in result.candidates],
        }

    records = []
    correct = 0
    with progress_bar(label, len(problems), enabled=progress, acc=0.0,
                      status="acc {task.fields[acc]:.1%}") as update:
        for next_done in asyncio.as_completed([one(p) for p in problems]):
            record = await next_done
            records.append(record)
            correct += record["correct"]
            update(advance=1, acc=correct / len(records))
            if records_file:
                records_file.write(json.dumps(record) + "\n")
                records_file.flush()
    order = {p.id: i for i, p in enumerate(problems)}
    return sorted(records, key=lambda r: order[r["id"]])


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
