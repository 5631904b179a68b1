"""Run strategies over a problem set and measure them: accuracy (with a 95% bootstrap interval, overall and per
level), tokens, time.

Each problem is one unit of work, keyed `STRATEGY@BUDGET/PROBLEM_ID` (with the strategy's options, if any:
`deepconf[measure=logprob]@32/...`). Its sampling is seeded from the run's
seed and the problem's id alone, so a problem gives the same samples whatever runs beside it, and a run that
resumes gives what an uninterrupted one would. With a RecordFile (`--out`), every finished unit is appended
as it finishes and units already there are skipped; the summary is computed from all of them.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from dataclasses import replace
from typing import Awaitable, Callable, TypeVar

from ponder.errors import InvalidArgumentError
from ponder.eval.metrics import bootstrap_ci
from ponder.eval.records import PoolRecord, Record, RecordFile
from ponder.eval.summary import Summary
from ponder.progress import progress_bar
from ponder.runtime import Runtime
from ponder.seeds import derive_seed
from ponder.strategies import Result, StrategyConfig
from ponder.tasks import Problem
from ponder.verifiers.answer import grade


def evaluate(task: str, problems: list[Problem], strategy: str, runtime: Runtime, config: StrategyConfig, *,
             records: RecordFile | None = None, progress: bool = True, concurrency: int | None = None, seed: int = 0,
             **meta) -> Summary:
    """Evaluate `strategy` on `problems` through `runtime` (a Runtime, or a distributed.ReplicaPool whose runs are
    on replicas); returns the summary (its to_dict: DESIGN.md, `ponder eval --json`). `meta`: the run's settings
    a summary records (model, backend, draft, data, style, replicas). Records are written here, by the
    caller's process alone, so each is written once.

    `concurrency` caps the problems in flight at once (None: all of them, the most throughput; 1: one at a
    time, so `wall_s_per_problem` is each problem's latency)."""
    declared, verifier = runtime.check(strategy)
    name = unit_name(strategy, config)

    async def unit(problem: Problem) -> Record:
        seeded = replace(config, sampling=replace(config.sampling, seed=derive_seed(seed, problem.id)))
        return await record(problem, name, await runtime.solve(problem, strategy, seeded))

    started = time.perf_counter()
    done, new = run_units(problems, lambda p: f"{name}/{p.id}", unit, Record, records, progress, name, concurrency)
    wall_s = time.perf_counter() - started
    return summarize(done, task=task, strategy=strategy, budget=config.budget, wall_s=wall_s, new=new,
                     concurrency=concurrency or len(problems), temperature=config.sampling.temperature,
                     verifier=verifier, seed=seed, options=dict(config.options), **meta)


def unit_name(strategy: str, config: StrategyConfig) -> str:
    """`STRATEGY[OPTIONS]@BUDGET`: what a record's key starts with."""
    options = ",".join(f"{k}={v}" for k, v in sorted(config.options.items()))
    return f"{strategy}{f'[{options}]' if options else ''}@{config.budget}"


async def record(problem: Problem, unit: str, result: Result) -> Record:
    """One unit of work's record: the strategy's Result on `problem`, graded."""
    return Record(key=f"{unit}/{problem.id}", id=problem.id, level=problem.level, reference=problem.answer,
                  answer=result.answer, correct=await grade_answer(problem, result.answer), samples=result.samples,
                  tokens=result.tokens, stop_reason=result.stop_reason, wall_s=result.wall_s, votes=result.votes,
                  details=result.details, candidates=[c.text for c in result.candidates], cost=result.cost)


def summarize(records: list[Record], *, wall_s: float, new: int, **fields) -> Summary:
    """The summary of one strategy's records. Wall time counts this session's problems only (a resumed run
    measured nothing for the records it found)."""
    n = len(records)
    correct = [float(r.correct) for r in records]
    by_level = defaultdict(list)
    for r in records:
        by_level[r.level].append(r.correct)
    low, high = bootstrap_ci(correct)
    models = sorted({name for r in records for name in r.tokens["by_model"]})
    reasoning = sum(r.tokens.get("reasoning", 0) for r in records)  # an earlier version's records: none
    return Summary(
        n_problems=n,
        accuracy=round(sum(correct) / n, 4),
        accuracy_ci95=[round(low, 4), round(high, 4)],
        accuracy_by_level={str(k): round(sum(v) / len(v), 4) for k, v in sorted(by_level.items())},
        samples_per_problem=round(sum(r.samples for r in records) / n, 2),
        tokens_generated_per_problem=round(sum(r.tokens["generated"] for r in records) / n, 1),
        reasoning_tokens_per_problem=round(reasoning / n, 1),
        answer_tokens_per_problem=round((sum(r.tokens["generated"] for r in records) - reasoning) / n, 1),
        tokens_prompt_per_problem=round(sum(r.tokens["prompt"] for r in records) / n, 1),
        tokens_generated_per_problem_by_model={
            name: round(sum(r.tokens["by_model"].get(name, {}).get("generated", 0) for r in records) / n, 1)
            for name in models},
        wall_s=round(wall_s, 2),
        wall_s_per_problem=round(wall_s / new, 4) if new else None,
        latency_s_per_problem=round(sum(r.wall_s for r in records) / n, 4),
        problems_run_now=new,
        cost_per_problem=None if any(r.cost is None for r in records) else round(sum(r.cost for r in records) / n, 9),
        stop_reasons=dict(sorted(Counter(r.stop_reason for r in records).items())),
        **fields,
    )


Unit = TypeVar("Unit", Record, PoolRecord)


def run_units(problems: list[Problem], key: Callable[[Problem], str], unit: Callable[[Problem], Awaitable[Unit]],
              kind: type[Unit], records: RecordFile | None, progress: bool, label: str, concurrency: int | None,
              shown: str = "acc") -> tuple[list[Unit], int]:
    """Run `unit` on every problem whose key is not in `records` yet, appending each record as it finishes.
    Returns every problem's record (found, read back as a `kind`, or new) in the problems' order, and how many
    are new. The progress bar shows the share of new records that are a hit (as `shown`), and the time left."""
    if concurrency is not None and concurrency < 1:
        raise InvalidArgumentError(f"concurrency={concurrency} must be >= 1")
    todo = [p for p in problems if records is None or key(p) not in records.done]

    async def all_units() -> list[Unit]:
        gate = asyncio.Semaphore(concurrency or len(todo))

        async def one(problem):
            async with gate:
                try:
                    return await unit(problem)
                except InvalidArgumentError as error:  # say which problem (a prompt longer than the context...)
                    raise InvalidArgumentError(f"problem {problem.id}: {error}") from None

        new, correct = [], 0
        skipped = len(problems) - len(todo)
        tasks = [asyncio.ensure_future(one(p)) for p in todo]
        try:
            with progress_bar(label, len(problems), enabled=progress, completed=skipped, acc=0.0,
                              status=shown + " {task.fields[acc]:.1%}") as update:
                for next_done in asyncio.as_completed(tasks):
                    record = await next_done
                    if records is not None:
                        records.append(record)
                    new.append(record)
                    correct += record.hit
                    update(advance=1, acc=correct / len(new))
        finally:  # on an error, the units still running are cancelled (their samples aborted) before it is raised
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return new

    new = asyncio.run(all_units()) if todo else []
    by_key = {r.key: r for r in new}
    if records is not None:  # the ones a run before this one wrote
        found = {key(p) for p in problems} - by_key.keys()
        by_key |= {r["key"]: kind.from_dict(r) for r in records.records if r["key"] in found}
    return [by_key[key(p)] for p in problems], len(new)


async def grade_answer(problem: Problem, answer) -> bool:
    """verifiers.answer.grade, from asyncio."""
    if problem.grader == "code":  # a sandboxed subprocess: off the event loop, so sampling goes on meanwhile
        return await asyncio.to_thread(grade, problem, answer)
    return grade(problem, answer)
