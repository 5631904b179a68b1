"""Every strategy end to end on the real shipped model through ponder's engine."""

import asyncio
import json

import pytest

from ponder.backends.local import LocalGenerator
from ponder.errors import InvalidArgumentError
from ponder.strategies import STRATEGIES, StrategyConfig
from ponder.tasks import arith
from ponder.verifiers import ArithSteps

PROBLEMS = arith.problems(11, 12)
EASY = [p for p in PROBLEMS if p.level <= 2][:2]
HARD = [p for p in PROBLEMS if p.level >= 5][:1]


VERIFIED = ("best-of-n", "weighted-vote", "beam", "particle")
STEPWISE = ("beam", "particle", "spec-reason")  # a sample is one step, not a whole solution
THINKING = ("budget-forcing",)  # needs a thinking model (the shipped one does not think)


@pytest.fixture(scope="module")
def draft():
    generator = LocalGenerator("ponder-arith-draft", seed=1)
    yield generator
    generator.close()


def solve(strategy, problem, generator, budget, verifier=None, draft=None, **options):
    config = StrategyConfig(budget=budget, options=options, draft=draft)
    return asyncio.run(STRATEGIES[strategy](problem, generator, verifier, config))


# auto's budget is an average spend, its probe on top (tests/strategies/test_auto.py)
@pytest.mark.parametrize("strategy", sorted(set(STRATEGIES) - {"reference", *THINKING}
                                            - {name for name, entry in STRATEGIES.items() if entry.chooses}))
def test_each_strategy_answers_and_accounts_for_its_tokens(strategy, target, draft):
    verifier = ArithSteps() if strategy in VERIFIED else None
    for problem in EASY + HARD:
        result = solve(strategy, problem, target, 8, verifier, draft if strategy == "spec-reason" else None)
        data = json.loads(json.dumps(result.to_dict()))  # JSON all the way down
        assert data["strategy"] == strategy and data["budget"] == 8
        models = result.tokens["by_model"]
        assert sum(m["generated"] for m in models.values()) == result.tokens["generated"] > 0
        if strategy == "spec-reason":
            assert result.details["steps_accepted"] + result.details["steps_rewritten"] >= problem.level
        else:
            assert list(models) == ["ponder-arith"]
        if strategy not in STEPWISE:
            assert 1 <= result.samples <= 8 and result.tokens["generated"] <= result.samples * 256
        assert result.tokens["generated"] >= max(c.tokens for c in result.candidates)  # plus any aborted ones
        assert result.candidates and all(c.answer == problem.extract(c.text) for c in result.candidates)
        assert result.answer is None or any(c.answer == result.answer for c in result.candidates)
        assert result.stop_reason


def test_budget_forcing_is_refused_on_a_model_that_does_not_think(target):
    with pytest.raises(InvalidArgumentError, match="thinking_budget needs a thinking model"):
        solve("budget-forcing", EASY[0], target, 1, thinking_tokens=16)


def test_reference_answers_with_the_datasets_solution_and_no_model():
    for problem in PROBLEMS:
        result = solve("reference", problem, None, 1)
        assert result.answer == problem.answer and result.candidates[0].text == problem.solution
        assert result.samples == 0 and result.tokens["generated"] == 0


def test_early_stopping_spends_less_than_the_vote_and_agrees_with_it():
    generator = LocalGenerator("ponder-arith", seed=5)  # its own, so its samples do not depend on the test order
    try:
        for problem in [p for p in PROBLEMS if p.level == 1][:2]:
            vote = solve("vote", problem, generator, 32)
            adaptive = solve("adaptive-vote", problem, generator, 32)
            deepconf = solve("deepconf", problem, generator, 32)
            assert adaptive.stop_reason == "confident" and deepconf.stop_reason == "consensus"
            assert adaptive.answer == vote.answer == deepconf.answer == problem.answer
            for early in (adaptive, deepconf):
                assert early.tokens["generated"] < vote.tokens["generated"] / 2, early.tokens
    finally:
        generator.close()
