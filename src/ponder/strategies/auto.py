"""auto: the compute-optimal choice per question (Snell et al., 2024: test-time compute allocated by difficulty).

A cheap probe first, `probe` samples (2 by default), whose answers put the question in a difficulty bin:
"agree" (all answered, alike), "split" (answered, not alike), "unanswered" (some gave no answer). A policy, fitted
on validation problems by `ponder tune` and saved as a small JSON file, then says what pays best for that bin at
the spend asked: "stop" (the probe's vote is the answer) or a strategy at a budget ("adaptive-vote@16"), which
then runs as it would alone; the Result holds the probe's samples and its, and their tokens together.

    {"probe": 2, "levels": [{"budget": 4, "choose": {"agree": "stop", "split": "vote@8", "unanswered": "vote@4"}},
                            {"budget": 16, "choose": {...}}]}

`auto@B` takes the level fitted for an average spend of B samples' worth per question (the largest `budget` <= B;
the smallest level where none is). Where a policy is not given (`--option policy=FILE`), the model's own
(`policy.json` in its folder; the shipped thinking model has one) is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ponder.backends.base import Generator
from ponder.errors import InvalidArgumentError
from ponder.strategies.base import Problem, Result, Session, StrategyConfig, majority
from ponder.strategies.limits import read_json
from ponder.verifiers.base import Verifier

BINS = ("agree", "split", "unanswered")


@dataclass(frozen=True)
class Options:
    policy: str = ""  # a policy file ("": the model's own policy.json)


@dataclass(frozen=True)
class Policy:
    probe: int
    levels: list[dict] = field(default_factory=list)  # each {"budget": B, "choose": {bin: "stop" | "NAME@B"}}

    @classmethod
    def parse(cls, data, source: str = "policy") -> Policy:
        from ponder.strategies import STRATEGIES

        if not isinstance(data, dict) or not isinstance(data.get("probe"), int) or data["probe"] < 1 or \
                not isinstance(data.get("levels"), list) or not data["levels"]:
            raise InvalidArgumentError(f"{source}: a policy is {{\"probe\": N >= 1, \"levels\": [...]}}")
        for level in data["levels"]:
            if not isinstance(level, dict) or not isinstance(level.get("budget"), int) or \
                    set(level.get("choose", {})) != set(BINS):
                raise InvalidArgumentError(f"{source}: each level is {{\"budget\": B, \"choose\": {{...}}}} with a "
                                           f"choice for each of {list(BINS)}")
            for choice in level["choose"].values():
                if not isinstance(choice, str):
                    raise InvalidArgumentError(f"{source}: choice {choice!r} is not \"stop\" or STRATEGY@BUDGET")
                name, _, budget = choice.partition("@")
                entry = STRATEGIES.get(name)
                if choice != "stop" and (entry is None or not entry.choosable or not budget.isdigit()
                                         or int(budget) < 1):
                    raise InvalidArgumentError(f"{source}: choice {choice!r} is not \"stop\" or STRATEGY@BUDGET of "
                                               "a strategy of the model alone (no verifier it needs, no draft)")
        return cls(data["probe"], sorted(data["levels"], key=lambda level: level["budget"]))

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        return cls.parse(read_json(path, "the policy"), str(path))

    @classmethod
    def of(cls, generator: Generator) -> Policy:
        """The policy shipped with the generator's model (policy.json in its folder)."""
        from ponder.models import resolve

        try:
            path = resolve(generator.name) / "policy.json"
        except InvalidArgumentError:
            path = None
        if path is None or not path.is_file():
            raise InvalidArgumentError(f"auto needs a policy: {generator.name!r} ships none; fit one with ponder "
                                       "tune and pass it as --option policy=FILE")
        return cls.load(path)

    def level(self, budget: int) -> dict:
        fitting = [level for level in self.levels if level["budget"] <= budget]
        return fitting[-1] if fitting else self.levels[0]


def difficulty(answers: list) -> str:
    """The probe's bin: "unanswered" if any sample gave no answer, "agree" if all answers are one, else "split"."""
    if any(a is None for a in answers):
        return "unanswered"
    from ponder.verifiers.answer import classes

    return "agree" if len(set(classes(answers))) == 1 else "split"


async def run(problem: Problem, generator: Generator, verifier: Verifier | None, config: StrategyConfig) -> Result:
    from ponder.strategies import STRATEGIES

    options = config.parse(Options, "auto")
    policy = Policy.load(options.policy) if options.policy else Policy.of(generator)
    session = Session("auto", problem, generator, config)
    probe = [session.candidate(s) for s in await (await session.submit(policy.probe)).collect()]
    where = difficulty([c.answer for c in probe])
    level = policy.level(config.budget)
    choice = level["choose"][where]
    details = {"bin": where, "choice": choice, "level": level["budget"]}
    if choice == "stop":
        answer, votes = majority(probe)
        return session.result(answer, probe, "probe" if answer is not None else "no_answer", votes, **details)
    name, _, budget = choice.partition("@")
    chosen = STRATEGIES[name]
    result = await chosen.run(problem, generator, verifier if chosen.verifier != "none" else None,
                              replace(config, budget=int(budget), options={}))
    total = session.result(result.answer, probe + result.candidates, result.stop_reason, result.votes,
                           **details, **{f"{name}.{k}": v for k, v in result.details.items()})
    total.add_spend(result.tokens, result.samples, config.limits.prices)  # the probe's, then the choice's
    return total
