"""Sample pools: N samples per problem drawn once, and from them, for every k <= N, the curves a test-time
scaling study needs: unbiased pass@k (coverage), expected maj@k, best@k under a verifier, each with a 95%
bootstrap interval over problems, and the coverage fit of Large Language Monkeys (see metrics.py).

One record per problem, keyed `pool@N/PROBLEM_ID`: each sample's answer, whether it is right, its tokens (and
of them, its reasoning tokens) and logprob, and its verifier score.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import numpy as np

from ponder.backends.base import SamplingParams
from ponder.eval import metrics
from ponder.eval.records import PoolRecord, RecordFile
from ponder.eval.runner import grade_answer, run_units
from ponder.eval.summary import PoolSummary
from ponder.runtime import Runtime
from ponder.seeds import derive_seed
from ponder.strategies import StrategyConfig
from ponder.tasks import Problem
from ponder.verifiers.answer import classes


def draw_pool(task: str, problems: list[Problem], n: int, runtime: Runtime, sampling: SamplingParams, *,
              records: RecordFile | None = None, progress: bool = True, concurrency: int | None = None, seed: int = 0,
              **meta) -> PoolSummary:
    """Draw `n` samples per problem (every one run to its end, nothing stopped early: a vote of `n`, all kept)
    and summarize the pool; the runtime's verifier, if one was chosen, scores every sample (best@k)."""
    name = f"pool@{n}"
    config = StrategyConfig(budget=n, sampling=sampling)
    verifier = runtime.verifier(runtime.choice.verifier)

    async def unit(problem: Problem) -> PoolRecord:
        seeded = replace(config, sampling=replace(config.sampling, seed=derive_seed(seed, problem.id)))
        result = await runtime.solve(problem, "vote", seeded)
        candidates = result.candidates
        correct = await asyncio.gather(*(grade_answer(problem, c.answer) for c in candidates))
        scores = await verifier.score(problem, [c.text for c in candidates]) if verifier else None
        return PoolRecord(key=f"{name}/{problem.id}", id=problem.id, level=problem.level, reference=problem.answer,
                          answers=[c.answer for c in candidates], correct_samples=list(correct),
                          tokens_samples=[c.tokens for c in candidates], logprobs=[c.logprob for c in candidates],
                          scores=[round(float(s), 6) for s in scores] if scores is not None else None,
                          tokens=result.tokens, wall_s=result.wall_s,
                          reasoning_samples=[c.reasoning_tokens for c in candidates])

    started = time.perf_counter()
    done, new = run_units(problems, lambda p: f"{name}/{p.id}", unit, PoolRecord, records, progress, name,
                          concurrency, shown="coverage")
    return summarize_pool(done, n, task=task, wall_s=round(time.perf_counter() - started, 2), problems_run_now=new,
                          temperature=config.sampling.temperature, verifier=verifier.name if verifier else None,
                          seed=seed, **meta)


def summarize_pool(records: list[PoolRecord], n: int, **fields) -> PoolSummary:
    """Curves over k = 1..n (pass@k, maj@k, best@k where scored), each with its bootstrap interval."""
    ks = list(range(1, n + 1))
    rows = {"pass@k": [], "maj@k": []}
    scored = all(r.scores is not None for r in records)
    if scored:
        rows["best@k"] = []
    for i, r in enumerate(records):
        correct = r.correct_samples
        rows["pass@k"].append([metrics.pass_at_k(n, sum(correct), k) for k in ks])
        rows["maj@k"].append(metrics.maj_curve(classes(r.answers), correct, ks, seed=i))
        if scored:
            rows["best@k"].append([metrics.best_at_k(r.scores, correct, k) for k in ks])
    curves, intervals = {}, {}
    for name, per_problem in rows.items():
        table = np.array(per_problem)  # problems x k
        curves[name] = [round(float(x), 4) for x in table.mean(axis=0)]
        intervals[name] = [[round(lo, 4), round(hi, 4)] for lo, hi in
                           (metrics.bootstrap_ci(table[:, j], seed=j) for j in range(len(ks)))]
    fit = metrics.fit_coverage(ks, curves["pass@k"])
    tokens = sum(sum(r.tokens_samples) for r in records)
    reasoning = sum(sum(r.reasoning_samples or []) for r in records)  # an earlier version's records: none
    return PoolSummary(
        pool=n,
        n_problems=len(records),
        k=ks,
        curves=curves,
        intervals=intervals,
        coverage_fit={k: (round(v, 5) if isinstance(v, float) else v) for k, v in fit.items() if k != "fitted"},
        tokens_generated_per_sample=round(tokens / (n * len(records)), 1),
        tokens_generated_per_problem=round(tokens / len(records), 1),
        reasoning_tokens_per_problem=round(reasoning / len(records), 1),
        answer_tokens_per_problem=round((tokens - reasoning) / len(records), 1),
        **fields,
    )

