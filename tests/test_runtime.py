"""The composition root: models chosen from the registry's declarations, pairings checked before anything loads."""

import asyncio
import re

import pytest

from ponder.backends.local import LocalGenerator
from ponder.errors import InvalidArgumentError
from ponder.runtime import Choice, Runtime, plan
from ponder.strategies import STRATEGIES, StrategyConfig
from ponder.tasks import arith
from ponder.tasks.question import Question


@pytest.mark.parametrize("choice, strategies, message", [
    (Choice(), ["nope"], "unknown strategy 'nope'"),
    (Choice(), ["beam"], "beam needs a process (step) verifier"),
    (Choice(), ["best-of-n"], "best-of-n needs a verifier"),
    (Choice(), ["spec-reason"], "spec-reason needs a draft model"),
    (Choice(verifier="orm"), ["vote", "single"], "vote, single uses no verifier"),
    (Choice(verifier="nope"), ["best-of-n"], "unknown verifier 'nope'"),
    (Choice(backend="ftp://x"), ["vote"], "unknown backend 'ftp://x'"),
    (Choice(backend="http://127.0.0.1:9", draft="ponder-arith-draft"), ["vote"], "speculative decoding is the server"),
])
def test_plan_refuses_what_cannot_run_before_anything_loads(choice, strategies, message):
    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        plan(choice, strategies)


def test_plan_accepts_a_verifier_some_strategy_of_a_grid_uses_and_plain_sampling_uses_any():
    assert [e.verifier for e in plan(Choice(verifier="orm"), ["vote", "best-of-n"])] == ["none", "required"]
    assert plan(Choice(verifier="orm"), [], plain=True) == []


def test_every_registry_entry_declares_its_needs():
    assert {name for name, e in STRATEGIES.items() if e.verifier == "steps"} == {"beam", "particle"}
    assert {name for name, e in STRATEGIES.items() if e.draft} == {"spec-reason"}
    assert {name for name, e in STRATEGIES.items() if not e.model} == {"reference"}


def test_a_draft_writes_on_its_own_for_spec_reason_and_decodes_speculatively_otherwise():
    with Runtime(Choice(draft="ponder-arith-draft"), ["spec-reason", "vote"]) as runtime:
        assert isinstance(runtime.drafter, LocalGenerator) and runtime.drafter.name == "ponder-arith-draft"
        assert runtime.generator.engine.engine.speculator is None  # the draft is not inside the engine too
    with Runtime(Choice(draft="ponder-arith-draft"), ["vote"]) as runtime:
        assert runtime.drafter is None
        assert runtime.generator.engine.engine.speculator is not None


def test_reference_loads_no_model_and_plain_sampling_loads_it():
    with Runtime(Choice(), ["reference"]) as runtime:
        assert runtime.generator is None and runtime.drafter is None
        problem = arith.problems(1, 1)[0]
        result = asyncio.run(runtime.solve(problem, "reference", StrategyConfig()))
        assert result.answer == problem.answer
        with pytest.raises(InvalidArgumentError, match="not among the strategies"):
            runtime.check("vote")
    with Runtime(Choice(verifier="orm"), plain=True) as runtime:
        assert runtime.generator.name == "ponder-arith"


def test_check_takes_a_requests_own_verifier_and_refuses_one_a_strategy_does_not_use():
    with Runtime(Choice(), plain=True) as runtime:
        assert runtime.check("vote") == (STRATEGIES["vote"], None)
        assert runtime.check("beam", "arith-steps") == (STRATEGIES["beam"], "arith-steps")
        with pytest.raises(InvalidArgumentError, match="vote uses no verifier"):
            runtime.check("vote", "arith-steps")
        with pytest.raises(InvalidArgumentError, match="scores whole solutions only"):
            runtime.check("beam", "orm")


def test_the_chosen_verifier_goes_only_to_the_strategies_that_use_one():
    with Runtime(Choice(verifier="arith-steps"), ["vote", "beam"]) as runtime:
        assert runtime.check("vote") == (STRATEGIES["vote"], None)
        assert runtime.check("beam")[1] == "arith-steps"
        question = Question.asked("Mia has 23 pens. She buys 15 more. How many pens does she have now?")
        result = asyncio.run(runtime.solve(question, "beam", StrategyConfig(budget=4)))
        assert result.strategy == "beam" and result.samples >= 4


def test_a_question_reads_its_answer_as_a_math_answer():
    question = Question.asked("What is 1/2 + 1/4?")
    assert question.prompt() == [{"role": "user", "content": "What is 1/2 + 1/4?"}]
    assert question.extract("23+15=38\nAnswer: 38") == 38
    assert question.extract("so the answer is $\\frac{3}{4}$.") == "\\frac{3}{4}"
