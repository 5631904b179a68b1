"""Reports of evaluation runs: `summaries.json` in each run folder; the tables `ponder eval` prints
(print_summaries, print_pool); and `ponder report DIR`, which writes a markdown summary and PNG plots
(matplotlib, imported only here):

- accuracy_vs_tokens.png: accuracy against generated tokens per problem, one line per strategy over its budgets,
  95% intervals as error bars, and the Pareto front over every point;
- coverage.png: for each sample pool, pass@k (coverage), maj@k and best@k against k on a log axis, with the
  coverage fit of Large Language Monkeys.
"""

from __future__ import annotations

import json
from pathlib import Path

from ponder.errors import InvalidArgumentError
from ponder.eval.records import write_atomic
from ponder.eval.summary import PoolSummary, Summary, read_summary

SUMMARIES = "summaries.json"


def save_summaries(folder: str | Path, summaries: list[Summary | PoolSummary]) -> None:
    """Merge `summaries` into the folder's summaries.json (one per strategy and budget, or pool size)."""
    path = Path(folder) / SUMMARIES
    old = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    # the entries already there are kept as written (an earlier version's summary is not rewritten in this one's)
    merged = {read_summary(s).key: s for s in old} | {s.key: s.to_dict() for s in summaries}
    write_atomic(path, json.dumps(list(merged.values()), indent=2) + "\n")


def load_summaries(folder: str | Path) -> list[Summary | PoolSummary]:
    folder = Path(folder)
    files = sorted(folder.rglob(SUMMARIES)) if folder.is_dir() else []
    if not files:
        raise InvalidArgumentError(f"no {SUMMARIES} under {folder} (write one with `ponder eval ... --out {folder}`)")
    return [read_summary(s) for f in files for s in json.loads(f.read_text(encoding="utf-8"))]


def write_report(folder: str | Path, out: str | Path) -> list[Path]:
    """report.md and the plots of every run under `folder`; returns the paths written."""
    from ponder.eval.metrics import shown_ks  # numpy: imported when a report is made, not when the CLI starts

    summaries = load_summaries(folder)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runs = [s for s in summaries if isinstance(s, Summary)]
    pools = [s for s in summaries if isinstance(s, PoolSummary)]
    written = []
    lines = [f"# ponder report: {folder}", ""]
    settings = sorted({(s.model, s.temperature, s.verifier, s.seed) for s in summaries}, key=str)
    lines += [f"Settings: model {m}, temperature {t}, verifier {v} (for the strategies that use one), seed {seed}."
              for m, t, v, seed in settings] + [""]
    if runs:
        written.append(plot_accuracy_vs_tokens(runs, out / "accuracy_vs_tokens.png"))
        lines += ["## Strategies", "", f"![accuracy against tokens]({written[-1].name})", "",
                  "| task | strategy | budget | problems | accuracy | 95% interval | tokens/problem | wall s/problem |",
                  "|---|---|---|---|---|---|---|---|"]
        for s in sorted(runs, key=lambda s: (s.task, s.label, s.budget)):
            low, high = s.accuracy_ci95 or (float("nan"), float("nan"))
            wall = s.wall_s_per_problem
            lines.append(f"| {s.task} | {s.label} | {s.budget} | {s.n_problems} | "
                         f"{s.accuracy:.1%} | {low:.1%}-{high:.1%} | {s.tokens_generated_per_problem:.0f} | "
                         f"{wall if wall is not None else '-'} |")
        lines.append("")
    if pools:
        written.append(plot_coverage(pools, out / "coverage.png"))
        lines += ["## Sample pools", "", f"![coverage against k]({written[-1].name})", ""]
        for p in pools:
            lines += [f"{p.task}, a pool of {p.pool} samples on {p.n_problems} problems "
                      f"({p.tokens_generated_per_sample} generated tokens per sample):", "",
                      "| k | " + " | ".join(p.curves) + " |", "|---|" + "---|" * len(p.curves)]
            for k in shown_ks(p.pool):
                cells = [f"{p.curves[c][k - 1]:.1%} ({p.intervals[c][k - 1][0]:.1%}-{p.intervals[c][k - 1][1]:.1%})"
                         for c in p.curves]
                lines.append(f"| {k} | " + " | ".join(cells) + " |")
            fit = p.coverage_fit
            lines += ["", f"Coverage fit: pass@k = exp(a k^b) with a = {fit['a']}, b = {fit['b']}, R^2 = "
                          f"{fit.get('r2')}" if fit.get("a") is not None else f"Coverage fit: {fit.get('note')}", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [path, *written]


def print_summaries(summaries: list[Summary]) -> None:
    """The strategies' summaries of one task as a table on stdout: accuracy with its 95% interval, by level
    where there are several, generated tokens per problem and wall time."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    levels = sorted({lvl for s in summaries for lvl in s.accuracy_by_level}, key=int)
    levels = levels if len(levels) > 1 else []
    thinks = any(s.reasoning_tokens_per_problem > 0 for s in summaries)  # a thinking model's: which are reasoning
    table = Table(title=f"{summaries[0].task}: {summaries[0].n_problems} problems", box=box.SIMPLE_HEAD,
                  pad_edge=False, collapse_padding=True)
    table.caption = ("95%: bootstrap interval over problems; L1..: accuracy by level; tokens: generated per "
                     "problem" + ("; thinking, answer: of them, those inside and after the think block" if thinks
                                  else "") + "; wall s: this session's problems")
    split = ["thinking", "answer"] if thinks else []
    for column in ["strategy", "accuracy", "95%", *[f"L{lvl}" for lvl in levels], "tokens", *split, "wall s"]:
        table.add_column(column, justify="left" if column == "strategy" else "right", no_wrap=True)
    for s in summaries:
        per_level = [f"{s.accuracy_by_level.get(lvl, float('nan')) * 100:.0f}" for lvl in levels]
        low, high = s.accuracy_ci95 or (float("nan"), float("nan"))
        table.add_row(f"{s.label}@{s.budget}", f"{s.accuracy:.1%}", f"{low * 100:.0f}-{high * 100:.0f}",
                      *per_level, f"{s.tokens_generated_per_problem:.0f}",
                      *([f"{s.reasoning_tokens_per_problem:.0f}", f"{s.answer_tokens_per_problem:.0f}"] if thinks
                        else []), f"{s.wall_s:.1f}")
    Console().print(table)


def print_pool(summary: PoolSummary) -> None:
    """A sample pool's curves (pass@k, maj@k, best@k with their 95% intervals) as a table on stdout, then its
    coverage fit."""
    from rich.console import Console
    from rich.table import Table

    from ponder.eval.metrics import shown_ks

    n = summary.pool
    table = Table(title=f"{summary.task}: a pool of {n} samples on {summary.n_problems} problems")
    table.caption = "each: its expectation over all k-subsets of the pool, 95% bootstrap interval in brackets"
    for column in ["k", *summary.curves]:
        table.add_column(column, justify="right", no_wrap=True)
    for k in shown_ks(n):
        cells = [f"{values[k - 1]:.1%} [{summary.intervals[c][k - 1][0]:.1%}, {summary.intervals[c][k - 1][1]:.1%}]"
                 for c, values in summary.curves.items()]
        table.add_row(str(k), *cells)
    Console().print(table)
    if summary.reasoning_tokens_per_problem > 0:
        print(f"generated tokens per problem: {summary.tokens_generated_per_problem:.0f}, of them "
              f"{summary.reasoning_tokens_per_problem:.0f} thinking and {summary.answer_tokens_per_problem:.0f} answer")
    fit = summary.coverage_fit
    if fit.get("a") is not None:
        print(f"coverage fit (Large Language Monkeys): pass@k = exp({fit['a']:.4f} * k^{fit['b']:.4f}), "
              f"R^2 {fit['r2']:.4f}")


def plot_accuracy_vs_tokens(runs: list[Summary], path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for name in sorted({s.label for s in runs}):
        points = sorted((s for s in runs if s.label == name), key=lambda s: s.tokens_generated_per_problem)
        x = [s.tokens_generated_per_problem for s in points]
        y = [s.accuracy for s in points]
        intervals = [s.accuracy_ci95 or (s.accuracy, s.accuracy) for s in points]  # none: an old summary's
        err = [[acc - low for acc, (low, _) in zip(y, intervals)], [high - acc for acc, (_, high) in zip(y, intervals)]]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=name)
        for s in points:
            ax.annotate(str(s.budget), (s.tokens_generated_per_problem, s.accuracy), fontsize=7,
                        textcoords="offset points", xytext=(4, -10))
    front = _pareto([(s.tokens_generated_per_problem, s.accuracy) for s in runs])
    ax.plot(*zip(*front), linestyle="--", color="black", alpha=0.5, label="Pareto front")
    ax.set_xscale("log")
    ax.set_xlabel("generated tokens per problem (log)")
    ax.set_ylabel("accuracy")
    tasks = sorted({s.task for s in runs})
    return _save(plt, fig, ax, f"{', '.join(tasks)}: accuracy against compute (labels: budget; bars: 95% interval)",
                 path)


def plot_coverage(pools: list[PoolSummary], path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for p in pools:
        ks = p.k
        for curve, style in (("pass@k", "-"), ("maj@k", "--"), ("best@k", ":")):
            if curve in p.curves:
                ax.plot(ks, p.curves[curve], style, label=f"{p.task} {curve}")
                low, high = zip(*p.intervals[curve])
                ax.fill_between(ks, low, high, alpha=0.15)
        fit = p.coverage_fit
        if fit.get("a") is not None:
            import numpy as np

            k = np.asarray(ks, dtype=float)
            ax.plot(ks, np.exp(fit["a"] * k ** fit["b"]), color="black", alpha=0.6, linewidth=1,
                    label=f"fit exp({fit['a']:.3f} k^{fit['b']:.3f})")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("k (samples, log)")
    ax.set_ylabel("fraction of problems")
    return _save(plt, fig, ax, f"coverage (pass@k), maj@k and best@k from a pool of "
                 f"{max(p.pool for p in pools)} samples", path)


def _save(plt, fig, ax, title: str, path: Path) -> Path:
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _pareto(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other beats on both fewer tokens and higher accuracy, by tokens."""
    front, best = [], -1.0
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best:
            front.append((x, y))
            best = y
    return front


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise InvalidArgumentError("plots need matplotlib: pip install 'ponder[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
