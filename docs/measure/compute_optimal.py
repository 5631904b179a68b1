"""auto against the fixed strategies on held-out problems (docs/compute-optimal.md): accuracy against generated
tokens per problem, the fixed strategies' upper envelope, and auto at each budget.

    python docs/measure/compute_optimal.py --fixed runs/t19/pool-seed5 runs/t19/fixed-seed5-* \\
        --auto runs/t19/auto-seed5-* --allocate runs/t19/alloc-seed5 --out runs/t19/compute-optimal-seed5.json \\
        --plot docs/compute-optimal.png

reads the summaries of `ponder eval --out` folders (the commands are in docs/compute-optimal.md): the fixed
strategies at budgets 2-32 (vote from a pool of 32 samples per problem: vote@k is maj@k, the unbiased estimate
over the pool, at k times the tokens of one sample; single is maj@1), auto at the same budgets and batch
allocation (`--tokens-per-problem`), on the same problems. The envelope at a spend of T
tokens per problem is the best accuracy of any fixed strategy and budget that spent at most T. It reports each
auto point against the envelope at its own spend, and against vote@32 (accuracy, and its share of vote@32's
tokens).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ponder.eval.report import load_summaries
from ponder.eval.summary import PoolSummary, Summary

VOTE_BUDGETS = (1, 2, 4, 8, 16, 32)


def points(folder: str) -> list[dict]:
    out = []
    for s in load_summaries(folder):
        if isinstance(s, Summary):
            out.append({"strategy": s.strategy, "budget": s.budget, "accuracy": s.accuracy,
                        "tokens": s.tokens_generated_per_problem, "n": s.n_problems})
        elif isinstance(s, PoolSummary):  # vote@k from the pool
            for k in VOTE_BUDGETS:
                if k in s.k:
                    out.append({"strategy": "single" if k == 1 else "vote", "budget": k, "n": s.n_problems,
                                "accuracy": round(s.curves["maj@k"][s.k.index(k)], 4),
                                "tokens": round(k * s.tokens_generated_per_sample, 1)})
    return out


def envelope(fixed: list[dict], tokens: float) -> dict | None:
    """The most accurate fixed point that spent at most `tokens` per problem."""
    within = [p for p in fixed if p["tokens"] <= tokens]
    return max(within, key=lambda p: (p["accuracy"], -p["tokens"])) if within else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixed", required=True, nargs="+", help="run folders of the fixed strategies")
    parser.add_argument("--auto", required=True, nargs="+", help="run folders of auto")
    parser.add_argument("--allocate", nargs="*", default=[], help="run folders of --tokens-per-problem")
    parser.add_argument("--out", required=True)
    parser.add_argument("--plot")
    args = parser.parse_args()
    fixed = [p for folder in args.fixed for p in points(folder)]
    auto = [p for folder in args.auto for p in points(folder) if p["strategy"] == "auto"]
    allocated = [p for folder in args.allocate for p in points(folder) if p["strategy"] == "allocate"]
    vote32 = next(p for p in fixed if p["strategy"] == "vote" and p["budget"] == 32)
    rows = []
    for p in sorted(auto, key=lambda p: p["budget"]):
        best = envelope(fixed, p["tokens"])
        gap = round(p["accuracy"] - (best["accuracy"] if best else 0), 4)
        rows.append({**p, "envelope": best, "above_envelope": gap,
                     "vs_vote32": round(p["accuracy"] - vote32["accuracy"], 4),
                     "share_of_vote32_tokens": round(p["tokens"] / vote32["tokens"], 4)})
    for p in allocated:  # against vote at the budget whose tokens it spends
        votes = [v for v in fixed if v["strategy"] in ("vote", "single")]
        same = min(votes, key=lambda v: abs(v["tokens"] - p["tokens"]))
        p["vote_at_equal_tokens"] = same
        print(f"allocate@{p['budget']} tokens a problem: {p['accuracy']:.1%} at {p['tokens']:.0f} tokens; vote@"
              f"{same['budget']} {same['accuracy']:.1%} at {same['tokens']:.0f}")
    report = {"fixed": fixed, "auto": rows, "allocate": allocated, "vote32": vote32}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    for row in rows:
        best = row["envelope"]
        print(f"auto@{row['budget']}: {row['accuracy']:.1%} at {row['tokens']:.0f} tokens; envelope there "
              f"{best['accuracy']:.1%} ({best['strategy']}@{best['budget']}, {best['tokens']:.0f})" if best else
              f"auto@{row['budget']}: {row['accuracy']:.1%} at {row['tokens']:.0f} tokens; no fixed point spends less")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.5))
        for name in sorted({p["strategy"] for p in fixed}):
            line = sorted((p for p in fixed if p["strategy"] == name), key=lambda p: p["tokens"])
            ax.plot([p["tokens"] for p in line], [p["accuracy"] for p in line], "o-", alpha=0.5, label=name)
        hull, best = [], -1.0
        for p in sorted(fixed, key=lambda p: p["tokens"]):
            if p["accuracy"] > best:
                hull.append(p)
                best = p["accuracy"]
        ax.step([p["tokens"] for p in hull], [p["accuracy"] for p in hull], "k--", where="post", label="envelope")
        line = sorted(auto, key=lambda p: p["tokens"])
        ax.plot([p["tokens"] for p in line], [p["accuracy"] for p in line], "s-", color="crimson", lw=2, label="auto")
        if allocated:
            ax.plot([p["tokens"] for p in allocated], [p["accuracy"] for p in allocated], "*", color="navy",
                    markersize=14, label="batch allocation")
        ax.set_xscale("log")
        ax.set_xlabel("generated tokens per problem")
        ax.set_ylabel("accuracy")
        ax.set_title(f"ponder-arith-think, {vote32['n']} held-out arith problems")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)


if __name__ == "__main__":
    main()
