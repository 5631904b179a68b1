"""What thinking does on ponder-arith-think, measured on held-out arith problems (docs/thinking.md).

    python docs/measure/thinking.py --seed 1 --limit 300 --out runs/thinking/seed1.json --plot docs/thinking-budget.png

One engine, every problem at once; each problem's samples are seeded from (seed, problem, setting), so a rerun
repeats exactly. Settings are the defaults (T=0.7, max_tokens=256) unless named. It reports:

- pool: 16 thinking samples per problem: one-sample accuracy (the mean over samples), vote@16, how much the
  length varies (median over problems of longest / shortest), and whether shorter is right more often (over
  problems with right and wrong samples, the shorter half of each problem's samples against the longer half);
- nothink: 16 samples per problem with enable_thinking=False;
- budgets: 8 samples per problem with thinking budgets of 25%, 50% and 100% of the median reasoning length of
  the pool, and unlimited (the pool's first 8);
- recovery: 8 samples per problem with max_tokens at the pool's median length, with the default answer reserve
  and with plain truncation (answer_reserve=0): the share of samples that end with an answer, and accuracy.
The budget, recovery and truncation samples are seeded as the pool's first 8 are: each draws exactly as its
twin in the pool until the engine closes its thinking, so the settings are compared sample by sample.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from collections import Counter
from dataclasses import replace
from pathlib import Path

from ponder.backends.base import SamplingParams, generate
from ponder.backends.local import LocalGenerator
from ponder.models import sampling_defaults
from ponder.seeds import derive_seed
from ponder.tasks import arith


async def draw(generator, problems, params: SamplingParams, label: str, seed: int) -> list[list[dict]]:
    """Every problem's samples: tokens, reasoning tokens, answer (from the content), right or not."""
    async def one(problem):
        out = await generate(generator, problem.prompt(),
                             replace(params, seed=derive_seed(seed, problem.id, label)))
        return [{"tokens": s.tokens, "reasoning": s.reasoning_tokens, "answer": problem.extract(s.content),
                 "right": problem.extract(s.content) == problem.answer} for s in out.samples]
    return await asyncio.gather(*(one(p) for p in problems))


def accuracy(pools) -> float:
    return sum(s["right"] for pool in pools for s in pool) / sum(len(pool) for pool in pools)


def vote(pool) -> bool:
    """Majority over the answered samples (ties: the first drawn), right or not."""
    answers = Counter(s["answer"] for s in pool if s["answer"] is not None)
    if not answers:
        return False
    winner = answers.most_common(1)[0][0]  # equal counts keep the order first drawn
    return any(s["right"] for s in pool if s["answer"] == winner)


def short_m(pools, m: int) -> dict:
    """short-m@k replayed on each problem's k pooled samples: accuracy, and generated tokens against the vote's
    (all run in step: every other sample stops in the step the m-th writes its end marker, having made as many
    tokens as it took; the m then write their answers)."""
    right, spent, total = [], 0, 0
    for pool in pools:
        ranked = sorted(pool, key=lambda s: (s["reasoning"], s["tokens"]))
        kept, stop = ranked[:m], ranked[m - 1]["reasoning"] + 1
        spent += sum(s["tokens"] for s in kept) + sum(min(s["tokens"], stop) for s in ranked[m:])
        total += sum(s["tokens"] for s in pool)
        answers = Counter(s["answer"] for s in kept if s["answer"] is not None)
        top = max(answers.values(), default=0)
        winner = next((s["answer"] for s in kept if s["answer"] is not None and answers[s["answer"]] == top), None)
        right.append(winner is not None and any(s["right"] for s in kept if s["answer"] == winner))
    return {"accuracy": statistics.mean(right), "tokens_share": spent / total}


def tokens_per_problem(pools) -> float:
    return statistics.mean(sum(s["tokens"] for s in pool) / len(pool) for pool in pools)


def shorter_half(pools) -> tuple[float, float, int]:
    """Over problems with both right and wrong samples: accuracy of each problem's shorter half of samples
    (by generated tokens; ties in length split by draw order) and of its longer half."""
    short, long_, mixed = [], [], 0
    for pool in pools:
        if 0 < sum(s["right"] for s in pool) < len(pool):
            mixed += 1
            ranked = sorted(pool, key=lambda s: s["tokens"])
            half = len(ranked) // 2
            short += [s["right"] for s in ranked[:half]]
            long_ += [s["right"] for s in ranked[half:]]
    return statistics.mean(short), statistics.mean(long_), mixed


async def main(args) -> dict:
    problems = arith.problems(args.seed, args.limit)
    generator = LocalGenerator(args.model, seed=args.seed)
    sampling = sampling_defaults(args.model)  # the model's own, as `ponder eval` samples; else SamplingParams'
    if args.temperature is not None:
        sampling["temperature"] = args.temperature
    base = SamplingParams(max_tokens=args.max_tokens, **sampling)
    report: dict = {"model": args.model, "seed": args.seed, "problems": len(problems), "temperature": base.temperature,
                    **sampling}

    pool = await draw(generator, problems, replace(base, n=args.pool), "pool", args.seed)
    ratio = statistics.median(max(s["tokens"] for s in p) / max(1, min(s["tokens"] for s in p)) for p in pool)
    short, long_, mixed = shorter_half(pool)
    median_reasoning = statistics.median(s["reasoning"] for p in pool for s in p)
    median_tokens = statistics.median(s["tokens"] for p in pool for s in p)
    report["pool"] = {"single": accuracy(pool), f"vote@{args.pool}": statistics.mean(vote(p) for p in pool),
                      "tokens_per_sample": tokens_per_problem(pool),
                      "reasoning_per_sample": statistics.mean(s["reasoning"] for p in pool for s in p),
                      "median_tokens": median_tokens, "median_reasoning": median_reasoning,
                      "length_ratio_median": ratio, "shorter_half": short, "longer_half": long_,
                      "mixed_problems": mixed}
    print(json.dumps(report["pool"]), flush=True)
    # short-m@k as the pool's samples would have played it (all run in step, so the first m to end their thinking
    # are the m with the fewest reasoning tokens): for choosing m on a validation seed
    report["short_m"] = {m: short_m(pool, m) for m in (1, 2, 3, 4, 5, 6, 8, 10, 12, 16) if m <= args.pool}
    print(json.dumps(report["short_m"]), flush=True)

    nothink = await draw(generator, problems, replace(base, n=16, enable_thinking=False), "nothink", args.seed)
    report["nothink"] = {"single": accuracy(nothink), "vote@16": statistics.mean(vote(p) for p in nothink),
                         "tokens_per_sample": tokens_per_problem(nothink)}
    print(json.dumps(report["nothink"]), flush=True)

    report["budgets"] = []
    for share in (0.25, 0.5, 1.0):
        budget = max(1, round(share * median_reasoning))
        # seeded as the pool is: each sample draws as its pool twin until the budget ends its thinking
        runs = await draw(generator, problems, replace(base, n=8, thinking_budget=budget), "pool", args.seed)
        report["budgets"].append({"share": share, "thinking_budget": budget, "single": accuracy(runs),
                                  "tokens_per_sample": tokens_per_problem(runs)})
        print(json.dumps(report["budgets"][-1]), flush=True)
    twins = [p[:8] for p in pool]  # the pool's first 8 samples: the budgets' twins, unlimited
    report["budgets"].append({"share": None, "thinking_budget": None, "single": accuracy(twins),
                              "tokens_per_sample": tokens_per_problem(twins)})

    cap = int(median_tokens)
    report["recovery"] = {"max_tokens": cap}
    for name, reserve in (("recovery", None), ("truncation", 0)):
        runs = await draw(generator, problems, replace(base, n=8, max_tokens=cap, answer_reserve=reserve), "pool",
                          args.seed)  # twins again: the two differ only where recovery closes a trace
        report["recovery"][name] = {"answered": sum(s["answer"] is not None for p in runs for s in p) /
                                    sum(len(p) for p in runs), "single": accuracy(runs)}
        print(json.dumps({name: report["recovery"][name]}), flush=True)
    generator.close()
    report["samples"] = pool  # each problem's pooled samples: tokens, reasoning tokens, answer, right
    return report


def plot(report: dict, path: str) -> None:
    """Accuracy against generated tokens per sample: the thinking budgets (and unlimited), and no thinking."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    rows = report["budgets"]
    ax.plot([r["tokens_per_sample"] for r in rows], [100 * r["single"] for r in rows], "o-", label="thinking")
    for r in rows:
        name = f"{r['thinking_budget']}" if r["thinking_budget"] else "unlimited"
        ax.annotate(name, (r["tokens_per_sample"], 100 * r["single"]), textcoords="offset points", xytext=(4, -12))
    nothink = report["nothink"]
    ax.plot([nothink["tokens_per_sample"]], [100 * nothink["single"]], "s", color="C3", label="no thinking")
    ax.set_xlabel("generated tokens per sample")
    ax.set_ylabel("accuracy of one sample (%)")
    ax.set_title(f"{report['model']}: accuracy vs thinking budget ({report['problems']} problems, seed "
                 f"{report['seed']})", fontsize=9)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ponder-arith-think")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--temperature", type=float, default=None, help="default: the model's, as ponder eval's")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--pool", type=int, default=16, help="samples per problem of the pool")
    parser.add_argument("--out", default=None, help="write the report here (JSON)")
    parser.add_argument("--plot", default=None, help="write the accuracy-vs-thinking-budget curve here (PNG)")
    args = parser.parse_args()
    report = asyncio.run(main(args))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    if args.plot:
        plot(report, args.plot)
