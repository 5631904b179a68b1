"""Limits in tokens, seconds and dollars besides the sample budget (strategies/limits.py), on the shipped models:
tokens and dollars never exceeded whatever the strategy, a deadline shorter than one sample still answered, the
cost of every Result from a price table, and bad limits or price tables one clear error each."""

import asyncio
import json

import pytest

from ponder.backends.base import SamplingParams
from ponder.errors import InvalidArgumentError
from ponder.strategies import STRATEGIES, StrategyConfig
from ponder.strategies.limits import ANSWER_TOKENS, Limits, Prices
from ponder.tasks import arith
from ponder.verifiers.arith_steps import ArithSteps

PROBLEMS = arith.problems(21, 3)
PRICES = Prices.parse({"ponder-arith": {"prompt": 0.5, "generated": 2.0},
                       "ponder-arith-draft": {"prompt": 0.1, "generated": 0.4}})
# every strategy a model answers with, but those for a thinking model's thinking (test_thinking_strategies.py)
MODELLED = sorted(name for name, entry in STRATEGIES.items() if entry.model and not entry.thinking
                  and not entry.chooses)


@pytest.fixture(scope="module")
def draft():
    from ponder.backends.local import LocalGenerator

    generator = LocalGenerator("ponder-arith-draft", seed=0)
    yield generator
    generator.close()


def solve(target, draft, strategy, limits, budget=8, problem=PROBLEMS[0]):
    verifier = ArithSteps() if STRATEGIES[strategy].verifier != "none" else None
    config = StrategyConfig(budget=budget, sampling=SamplingParams(temperature=0.7, seed=5, max_tokens=96),
                            limits=limits, draft=draft if STRATEGIES[strategy].draft else None)
    return asyncio.run(STRATEGIES[strategy](problem, target, verifier, config))


@pytest.mark.parametrize("strategy", MODELLED)
def test_a_token_cap_is_never_exceeded_and_the_run_still_answers(target, draft, strategy):
    for cap in (60, 400):
        result = solve(target, draft, strategy, Limits(max_total_tokens=cap))
        assert result.tokens["generated"] <= cap, (strategy, cap, result.tokens)
        assert result.answer is not None
    tight = solve(target, draft, strategy, Limits(max_total_tokens=60))
    assert tight.stop_reason == "tokens"


@pytest.mark.parametrize("strategy", MODELLED)
def test_a_dollar_cap_is_never_exceeded_as_the_price_table_counts_it(target, draft, strategy):
    for cap in (0.0004, 0.002):
        result = solve(target, draft, strategy, Limits(max_cost=cap, prices=PRICES))
        spent = result.tokens["by_model"]
        assert result.cost == pytest.approx(sum(PRICES.price(m).of(t["prompt"], t["generated"])
                                                for m, t in spent.items()))
        assert result.cost <= cap and result.answer is not None, (strategy, cap, result.cost)
    free = solve(target, draft, strategy, Limits(prices=PRICES))  # prices alone limit nothing
    tight = solve(target, draft, strategy, Limits(max_cost=0.0004, prices=PRICES))
    # a run the cap changed says so (it reserves each sample's max_tokens, so it may cut a run that would have
    # fitted); one that it left alone keeps its own reason
    changed = (tight.samples, tight.tokens) != (free.samples, free.tokens)
    assert tight.stop_reason == ("cost" if changed else free.stop_reason)
    assert changed or strategy in ("single", "spec-reason")  # 8 samples of 96 tokens are over 0.0004


def test_a_deadline_shorter_than_one_sample_still_answers_naming_the_deadline(target, draft):
    for strategy in ("single", "vote", "adaptive-vote", "beam"):
        result = solve(target, draft, strategy, Limits(deadline=0.005), budget=16)
        assert result.stop_reason == "deadline" and result.answer is not None, strategy
        written = result.candidates[-1]  # written at once after the longest partial trace
        assert "Answer:" in written.text and written.tokens <= ANSWER_TOKENS


def test_a_thinking_models_anytime_answer_closes_its_think_block_first():
    from ponder.backends.local import LocalGenerator

    think = LocalGenerator("ponder-arith-think", seed=0)
    try:
        config = StrategyConfig(budget=8, sampling=SamplingParams(temperature=0.8, seed=2),
                                limits=Limits(deadline=0.02))
        result = asyncio.run(STRATEGIES["vote"](PROBLEMS[1], think, None, config))
    finally:
        think.close()
    assert result.stop_reason == "deadline" and result.answer is not None
    assert "</think>\n\nAnswer:" in result.candidates[-1].text


def test_every_result_has_its_cost_where_the_models_have_prices(target):
    config = StrategyConfig(budget=4, sampling=SamplingParams(seed=1), limits=Limits(prices=PRICES))
    result = asyncio.run(STRATEGIES["vote"](PROBLEMS[0], target, None, config))
    spent = result.tokens["by_model"]["ponder-arith"]
    assert result.cost == pytest.approx((spent["prompt"] * 0.5 + spent["generated"] * 2.0) / 1e6)
    assert result.stop_reason == "budget" and result.samples == 4  # prices alone limit nothing
    unpriced = asyncio.run(STRATEGIES["vote"](PROBLEMS[0], target, None, StrategyConfig(budget=2)))
    assert unpriced.cost is None


@pytest.mark.parametrize("table, words", [
    ([], "a JSON object of models"),
    ({}, "a JSON object of models"),
    ({"m": {"prompt": 1}}, "needs exactly \"prompt\" and \"generated\""),
    ({"m": {"prompt": 1, "generated": -2}}, "generated price -2 must be a number >= 0"),
    ({"m": {"prompt": "1", "generated": 2}}, "prompt price '1' must be a number >= 0"),
])
def test_a_bad_price_table_is_one_clear_error(table, words, tmp_path):
    with pytest.raises(InvalidArgumentError, match=words):
        Prices.parse(table)
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(table))
    with pytest.raises(InvalidArgumentError, match=words):
        Prices.load(path)
    path.write_text("{not json")
    with pytest.raises(InvalidArgumentError, match="is not JSON"):
        Prices.load(path)
    with pytest.raises(InvalidArgumentError, match="cannot read the price table"):
        Prices.load(tmp_path / "missing.json")


def test_bad_limits_are_one_clear_error(target):
    for fields, words in (({"max_total_tokens": -5}, "max_total_tokens=-5 must be > 16"),
                          ({"deadline": 0}, "deadline=0 must be"), ({"deadline": float("inf")}, "deadline=inf"),
                          ({"max_cost": -1.0, "prices": PRICES}, "max_cost=-1.0 must be"),
                          ({"max_cost": 0.01}, "max_cost needs the models' prices")):
        with pytest.raises(InvalidArgumentError, match=words):
            Limits(**fields)
    elsewhere = Limits(max_cost=0.01, prices=Prices.parse({"gpt-5": {"prompt": 1, "generated": 8}}))
    with pytest.raises(InvalidArgumentError, match="no price for 'ponder-arith'"):
        asyncio.run(STRATEGIES["vote"](PROBLEMS[0], target, None, StrategyConfig(limits=elsewhere)))


def test_auto_under_a_cap_counts_its_probe_and_its_choice(target, draft, tmp_path):
    """auto runs two sessions (its probe, then what its policy chose): a cap holds for both together, and the
    Result counts both, however the run ended."""
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"probe": 2, "levels": [{"budget": 8, "choose": dict.fromkeys(
        ("agree", "split", "unanswered"), "vote@8")}]}))
    for limits in (Limits(max_total_tokens=150), Limits(deadline=0.05)):
        config = StrategyConfig(budget=8, sampling=SamplingParams(temperature=0.7, seed=5, max_tokens=40),
                                options={"policy": str(policy)}, limits=limits)
        result = asyncio.run(STRATEGIES["auto"](PROBLEMS[0], target, None, config))
        assert result.answer is not None and result.stop_reason in ("tokens", "deadline")
        assert result.samples > 2 and result.tokens["generated"] == result.tokens["by_model"]["ponder-arith"][
            "generated"] > 0
        if limits.max_total_tokens:
            assert result.tokens["generated"] <= 150


@pytest.mark.parametrize("strategy", ["adaptive-vote", "deepconf"])
def test_at_a_cap_the_samples_admitted_finish_rather_than_abort(target, draft, strategy):
    """A strategy that adds samples as others finish stops adding at a cap; those already admitted (paid for in its
    reservation) finish and vote, none is cut off."""
    aborted = target.load()["samples_aborted"]
    never_sure = {"adaptive-vote": {"confidence": 0.99999}, "deepconf": {"consensus": 1.0, "keep": 100.0}}[strategy]
    config = StrategyConfig(budget=16, sampling=SamplingParams(temperature=0.7, seed=5, max_tokens=96),
                            limits=Limits(max_total_tokens=300), options=never_sure)  # only the cap stops it
    result = asyncio.run(STRATEGIES[strategy](PROBLEMS[0], target, None, config))
    assert result.stop_reason == "tokens" and result.tokens["generated"] <= 300
    # none cut off by the cap: the only aborts are deepconf's own, the traces its confidence bar pruned (its bar is
    # the lowest warm-up trace's confidence at keep=100: a later trace may still fall under it)
    assert target.load()["samples_aborted"] - aborted == result.details.get("pruned", 0)
    assert all(c.finish_reason != "abort" for c in result.candidates) and result.answer is not None
