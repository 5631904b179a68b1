"""`ponder tune`: fit the policy of the `auto` strategy on validation problems.

Every validation problem is probed as `auto` probes (`probe` samples; their answers give its bin: agree, split or
unanswered), and answered by every candidate choice: "stop" (the probe's vote) and each strategy at each budget (run
after the probe, as `auto` runs it). A nested strategy (vote) at every budget comes from one run at the largest:
vote@k is the vote of its first k samples (the samples of one request are independent draws: what vote@k draws).
Then, for each budget B, the choice per bin that answers the most problems right while the average spend (the
probe's tokens and the choice's) stays within B samples' worth (B x the mean tokens of one sample, as the probe
measured them): a knapsack over the bins, small enough to search whole. The policy file holds each level's choices
and what they scored on the validation problems.

    policy = tune(runtime, problems, ["vote", "adaptive-vote"], [2, 4, 8, 16, 32], probe=2, seed=4)
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import replace
from pathlib import Path

from ponder.backends.base import SamplingParams
from ponder.errors import InvalidArgumentError
from ponder.seeds import derive_seed
from ponder.strategies import STRATEGIES, StrategyConfig
from ponder.strategies.auto import BINS, difficulty
from ponder.strategies.base import majority


def tune(runtime, problems, strategies: list[str], budgets: list[int], probe: int = 2, seed: int = 0,
         sampling: SamplingParams = SamplingParams(), grade=None, progress=None, cache: str | Path | None = None
         ) -> dict:
    """The policy (a dict, as the file holds it) fitted on `problems`. With `cache` (a folder), each choice's
    results are kept there by problem as they finish: a run that stops resumes where it was, and one over more
    problems (a larger --limit) runs only those it adds."""
    say = progress or (lambda text: None)
    grade = grade or (lambda problem, answer: problem.answer is not None and answer == problem.answer)
    kept = _Cache(cache, {"model": runtime.generator.name, "probe": probe, "seed": seed,
                          "sampling": repr(sampling)}) if cache is not None else None

    def config(budget: int, problem, salt: str) -> StrategyConfig:
        return StrategyConfig(budget=budget, sampling=replace(sampling, seed=derive_seed(seed, problem.id, salt)))

    def every(strategy: str, budget: int, salt: str, todo: list):
        async def run():
            return await asyncio.gather(*(runtime.solve(p, strategy, config(budget, p, salt)) for p in todo))
        return zip(todo, asyncio.run(run()))

    def rows(name: str, make) -> list:
        """A choice's value per problem: from the cache where it holds the problem, else made now by
        `make(problems still to do)` (each problem's sampling is seeded by its id alone, so a larger --limit
        reuses what a smaller one ran)."""
        found = (kept.get(name) if kept is not None else None) or {}
        todo = [p for p in problems if p.id not in found]
        if todo:
            found |= dict(zip([p.id for p in todo], make(todo)))
            if kept is not None:
                kept.put(name, found)
        return [found[p.id] for p in problems]

    def probed(todo):
        say(f"probe: vote@{probe} on {len(todo)} problems")
        return [(grade(p, r.answer), r.tokens["generated"], difficulty([c.answer for c in r.candidates]))
                for p, r in every("vote", probe, "probe", todo)]
    probes = rows("probe", probed)
    bins = [b for _, _, b in probes]
    table = {"stop": [(right, tokens) for right, tokens, _ in probes]}
    for strategy in strategies:
        if STRATEGIES[strategy].nested:  # every budget from the largest one's samples, in order
            def voted(todo, strategy=strategy):
                say(f"{strategy}@{max(budgets)} on {len(todo)} problems ({strategy}@k: its first k samples)")
                return [[(grade(p, majority(r.candidates[:k])[0]), sum(c.tokens for c in r.candidates[:k]))
                         for k in range(1, max(budgets) + 1)] for p, r in every(strategy, max(budgets), "choice", todo)]
            by_budget = rows(f"{strategy}@1-{max(budgets)}", voted)
            for budget in budgets:
                table[f"{strategy}@{budget}"] = [(right, tokens + spent[1]) for (right, tokens), spent in
                                                 zip((row[budget - 1] for row in by_budget), table["stop"])]
            continue
        for budget in budgets:
            def ran(todo, strategy=strategy, budget=budget):
                say(f"{strategy}@{budget} on {len(todo)} problems")
                return [(grade(p, r.answer), r.tokens["generated"]) for p, r in every(strategy, budget, "choice", todo)]
            table[f"{strategy}@{budget}"] = [(right, tokens + spent[1]) for (right, tokens), spent in
                                             zip(rows(f"{strategy}@{budget}", ran), table["stop"])]
    sample = sum(tokens for _, tokens, _ in probes) / (probe * len(problems))  # one sample's tokens
    levels = fit(table, bins, budgets, sample)
    return {"probe": probe, "levels": levels, "fitted_on": {
        "problems": len(problems), "seed": seed, "strategies": strategies, "budgets": budgets,
        "sample_tokens": round(sample, 1), "bins": {b: bins.count(b) for b in BINS}}}


class _Cache:
    """A folder of finished choices (one JSON file each, its values by problem id), valid for one set of
    settings (settings.json)."""

    def __init__(self, folder: str | Path, settings: dict):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        marker = self.folder / "settings.json"
        if not marker.exists():
            marker.write_text(json.dumps(settings))
        elif json.loads(marker.read_text()) != settings:
            raise InvalidArgumentError(f"{self.folder} holds a tune of other settings; use another --cache folder")

    def get(self, name: str):
        path = self.folder / f"{name}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def put(self, name: str, value) -> None:
        path = self.folder / f"{name}.json"
        path.with_suffix(".part").write_text(json.dumps(value))
        path.with_suffix(".part").replace(path)  # whole or absent, for a tune running beside this one


def fit(table: dict[str, list[tuple[bool, int]]], bins: list[str], budgets: list[int], sample: float) -> list[dict]:
    """For each budget B, the choice per bin that gets the most problems right within an average spend of B
    samples' worth (`sample` tokens each); where none fits, the cheapest. `table[choice][i]`: whether problem i's
    answer was right under that choice, and the tokens it spent (the probe's included)."""
    n = len(bins)
    # per bin and choice: problems right, tokens spent
    sums = {b: {c: (sum(ok for (ok, _), bi in zip(rows, bins) if bi == b),
                    sum(t for (_, t), bi in zip(rows, bins) if bi == b)) for c, rows in table.items()} for b in BINS}
    combos = [dict(zip(BINS, picks)) for picks in itertools.product(table, repeat=len(BINS))]
    levels = []
    for budget in budgets:
        cap = budget * sample * n

        def score(combo):
            right = sum(sums[b][combo[b]][0] for b in BINS)
            spent = sum(sums[b][combo[b]][1] for b in BINS)
            return right, spent
        scored = [(combo, *score(combo)) for combo in combos]
        within = [s for s in scored if s[2] <= cap]
        combo, right, spent = max(within, key=lambda s: (s[1], -s[2])) if within else min(scored, key=lambda s: s[2])
        levels.append({"budget": budget, "choose": combo, "accuracy": round(right / n, 4),
                       "samples_worth": round(spent / n / sample, 2)})
    return levels
