"""What a run measured: a Summary for each strategy and budget, a PoolSummary for each sample pool. Their
`to_dict()` is the JSON contract: the objects `ponder eval --json` prints and the entries of summaries.json
(DESIGN.md); `read_summary` types an entry read back from a file.

Fields with a default are those that summaries of earlier versions may lack (runs/ in the repository holds
some): they still load, with the field's default.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from ponder.eval.records import known_fields

CURVES = ("pass@k", "maj@k", "best@k")  # a pool's curves, in the order files hold them


@dataclass(kw_only=True)
class Settings:
    """The settings a run ran with, as its caller names them (ponder eval: all of them); last in the JSON."""

    model: str | None = None
    backend: str | None = None
    draft: str | None = None
    data: str | None = None
    style: str | None = None
    replicas: int = 1

    def settings_last(self, data: dict) -> dict:
        """`data` (this summary's fields, the settings first, as a dataclass orders a base's fields) with the
        settings moved last, where the files have them."""
        names = [f.name for f in fields(Settings)]
        return {k: v for k, v in data.items() if k not in names} | {k: data[k] for k in names}


@dataclass(kw_only=True)
class Summary(Settings):
    """One strategy at one budget over a problem set: accuracy (with its 95% bootstrap interval, overall and by
    level), samples and tokens per problem, time, and the settings it ran with."""

    task: str
    strategy: str
    budget: int
    n_problems: int
    accuracy: float
    accuracy_ci95: list[float] | None = None  # [low, high]
    accuracy_by_level: dict[str, float]
    samples_per_problem: float
    tokens_generated_per_problem: float
    reasoning_tokens_per_problem: float = 0.0  # of the generated tokens, those inside think blocks
    answer_tokens_per_problem: float | None = None  # the others (None, read back from an earlier version: all)
    tokens_prompt_per_problem: float
    tokens_generated_per_problem_by_model: dict[str, float]
    wall_s: float  # this session's problems only: a resumed run measured nothing for the records it found
    wall_s_per_problem: float | None  # None: every record was found, none run now
    latency_s_per_problem: float
    problems_run_now: int | None = None
    cost_per_problem: float | None = None  # dollars (None: a model without a price, or no price table)
    stop_reasons: dict = field(default_factory=dict)  # why each problem's run stopped, counted
    concurrency: int
    temperature: float
    verifier: str | None
    seed: int
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        answer_tokens(self)

    @property
    def label(self) -> str:
        """The strategy's name with its options, if any: `deepconf (measure=logprob)`."""
        options = ", ".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        return f"{self.strategy} ({options})" if options else self.strategy

    @property
    def key(self) -> str:
        """What it is one of in summaries.json: a later summary with the same key replaces it."""
        return f"{self.task}/{self.label}@{self.budget}"

    def to_dict(self) -> dict:
        return self.settings_last(asdict(self))

    @classmethod
    def from_dict(cls, data: dict) -> Summary:
        return cls(**known_fields(cls, data, f"summary {data.get('task')}/{data.get('strategy')}"))


@dataclass(kw_only=True)
class PoolSummary(Settings):
    """A pool of `pool` samples per problem: for every k up to it, pass@k, maj@k and (where a verifier scored the
    samples) best@k averaged over problems, each with its 95% bootstrap interval, and the coverage fit."""

    task: str
    pool: int
    n_problems: int
    k: list[int]
    curves: dict[str, list[float]]  # a curve's name (CURVES) -> its value at each k
    intervals: dict[str, list[list[float]]]  # a curve's name -> its [low, high] at each k
    coverage_fit: dict  # a, b, r2 of pass@k = exp(a k^b), or a note saying why there is no fit
    tokens_generated_per_sample: float
    tokens_generated_per_problem: float
    reasoning_tokens_per_problem: float = 0.0  # of the generated tokens, those inside think blocks
    answer_tokens_per_problem: float | None = None  # the others (None, read back from an earlier version: all)
    wall_s: float
    problems_run_now: int | None = None
    temperature: float
    verifier: str | None
    seed: int

    def __post_init__(self):
        answer_tokens(self)

    @property
    def key(self) -> str:
        return f"{self.task}/pool@{self.pool}"

    def to_dict(self) -> dict:
        """Curves flat, each followed by its interval (`pass@k`, `pass@k_ci95`, ...), and `"strategy": "pool"`,
        which tells a pool from a strategy's run in a file."""
        data = self.settings_last(asdict(self))
        curves, intervals = data.pop("curves"), data.pop("intervals")
        head = {name: data.pop(name) for name in ("task", "pool", "n_problems", "k")}
        flat = {}
        for name, values in curves.items():
            flat[name], flat[f"{name}_ci95"] = values, intervals[name]
        return {"task": head.pop("task"), "strategy": "pool", **head, **flat, **data}

    @classmethod
    def from_dict(cls, data: dict) -> PoolSummary:
        names = [name for name in CURVES if name in data]
        typed = {**data, "curves": {name: data[name] for name in names},
                 "intervals": {name: data[f"{name}_ci95"] for name in names}}
        return cls(**known_fields(cls, typed, f"summary {data.get('task')}/pool@{data.get('pool')}"))


def answer_tokens(summary: Summary | PoolSummary) -> None:
    """A summary of an earlier version, which did not tell reasoning from answer tokens: all are answer tokens."""
    if summary.answer_tokens_per_problem is None:
        summary.answer_tokens_per_problem = round(summary.tokens_generated_per_problem
                                                  - summary.reasoning_tokens_per_problem, 1)


def read_summary(data: dict) -> Summary | PoolSummary:
    """An entry of summaries.json (or a `ponder eval --json` line), typed. A file marks a pool's summary with
    "strategy": "pool" (a name no strategy has); from here on, its type tells it apart."""
    return PoolSummary.from_dict(data) if data.get("strategy") == "pool" else Summary.from_dict(data)
