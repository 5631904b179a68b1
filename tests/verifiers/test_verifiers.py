"""Answer equivalence on hard cases, the arith step checker, the judge's grade parsing and a real judge run."""

import asyncio

import pytest

from ponder.errors import InvalidArgumentError
from ponder.tasks import arith
from ponder.verifiers import load
from ponder.tasks.base import extract_boxed, extract_number
from ponder.verifiers.answer import equivalent
from ponder.verifiers.arith_steps import check
from ponder.verifiers.judge import Judge, parse_grade


@pytest.mark.parametrize("a, b", [("1/2", "0.5"), ("\\frac{1}{2}", "0.5"), ("\\frac{1}{2}", "1/2"), ("1,000", "1000"),
                                  ("x=3", "3"), (3, "3"), ("-3", "-3.0"), ("2/4", "1/2"), ("\\sqrt{2}", "2^{1/2}"),
                                  ("\\dfrac{3}{4}", "0.75"), ("$10$", "10")])
def test_equivalent_answers(a, b):
    assert equivalent(a, b) and equivalent(b, a)


@pytest.mark.parametrize("a, b", [("3", "4"), ("1,2", "12"), ("x=3", "x=4"), ("1/2", "0.51"), (None, None),
                                  ("1/0", "0"), ("\\frac{1}{3}", "0.33")])
def test_different_answers(a, b):
    assert not equivalent(a, b)


def test_extraction():
    assert extract_number("so she has 1,234 pens, not 12") == "12"
    assert extract_number("total: 1,234") == "1234" and extract_number("no digits") is None
    assert extract_boxed("thus \\boxed{\\frac{1}{2}} and \\boxed{x^{2}}") == "x^{2}"
    assert extract_boxed("\\boxed{unclosed") is None


def test_arith_steps_scores_each_line():
    problem = arith.problems(1, 3)[2]
    assert check(problem.solution) == [1.0] * len(problem.solution.splitlines())  # the reference is sound
    assert check("23+15=38\n38/2=18\nAnswer: 18") == [1.0, 0.0, 1.0]  # a wrong result
    assert check("23+15=38\n39/2=19\nAnswer: 19") == [1.0, 0.0, 1.0]  # a step that does not work on from 38
    assert check("23+15=38\n38/2=19\nAnswer: 18") == [1.0, 1.0, 0.0]  # an answer that is not the last result
    assert check("hello\n1+1=2") == [0.0, 1.0]
    verifier = load("arith-steps")
    assert asyncio.run(verifier.score(problem, [problem.solution, "1+1=3\nAnswer: 3"])) == [1.0, 0.0]


def test_judge_grades_are_parsed():
    assert parse_grade("The steps hold.\nGrade: 8") == 0.8
    assert parse_grade("grade 3/10, then on reflection Grade: 10") == 1.0
    assert parse_grade("Grade: 42") is None and parse_grade("looks fine") is None


def test_the_judge_runs_on_a_real_model_and_falls_back_where_it_gives_no_grade(target):
    problem = arith.problems(1, 1)[0]
    judge = Judge(target, max_tokens=48, fallback=0.25)
    before = target.usage.generated
    scores = asyncio.run(judge.score(problem, [problem.solution, "Answer: 0"]))
    assert target.usage.generated > before  # the model was asked
    assert scores == [0.25, 0.25]  # ponder-arith solves, it does not grade


def test_unknown_verifier_is_refused():
    with pytest.raises(InvalidArgumentError, match="'oracle'"):
        load("oracle")
    with pytest.raises(InvalidArgumentError, match="needs a generator"):
        load("judge")


def test_equivalence_classes_pool_equal_answers_in_order_of_first_sight():
    from ponder.verifiers.answer import classes

    assert classes(["1/2", "0.5", None, "3", "\\frac{1}{2}", "3.0"]) == [0, 0, None, 1, 0, 1]
