import random
import re

import pytest

from ponder.tasks import arith, load
from ponder.errors import InvalidArgumentError


def test_same_seed_and_index_give_the_same_problem():
    assert arith.problems(7, 30) == arith.problems(7, 30)
    assert arith.problem("train", 3, 11) == arith.problem("train", 3, 11)


def test_different_seeds_give_different_problems():
    a = {p.question for p in arith.problems(1, 50)}
    b = {p.question for p in arith.problems(2, 50)}
    assert len(a & b) == 0


def test_train_and_test_splits_never_share_a_question():
    test = arith.problems(0, 600) + arith.problems(1, 600)
    train = [arith.problem("train", seed, i) for seed in (0, 1) for i in range(4000)]
    assert all(arith.split_of(p.question) == "test" for p in test)
    assert all(arith.split_of(p.question) == "train" for p in train)
    assert not {p.question for p in test} & {p.question for p in train}


def test_split_is_a_function_of_the_text_alone():
    # the hash decides, so a test question can never come out of the training generator
    p = arith.problems(0, 1)[0]
    assert arith.split_of(p.question) == "test"
    assert arith.split_of(p.question + " ") in ("train", "test")  # any text has a split
    shares = [arith.split_of(f"question {i}") == "test" for i in range(4000)]
    assert 0.09 < sum(shares) / len(shares) < 0.16  # about TEST_FRACTION = 1/8


def test_levels_cycle_through_one_to_six():
    assert [p.level for p in arith.problems(0, 12)] == [1, 2, 3, 4, 5, 6] * 2


@pytest.mark.parametrize("split", ["train", "test"])
def test_every_reference_solution_is_right_and_grades_correct(split):
    for i in range(500):
        p = arith.problem(split, 5, i)
        lines = p.solution.split("\n")
        assert len(lines) == p.level + 1
        value = None
        for line in lines[:-1]:
            a, op, b, c = re.fullmatch(r"(\d+)([-+*/])(\d+)=(\d+)", line).groups()
            a, b, c = int(a), int(b), int(c)
            assert value is None or a == value  # each step starts from the previous result
            assert c == {"+": a + b, "-": a - b, "*": a * b, "/": a / b}[op]
            assert max(a, b, c) <= arith.MAX_VALUE <= 999 and c >= 1
            value = c
        assert lines[-1] == f"Answer: {value}" and p.answer == value
        assert arith.is_correct(p.solution, p)
        assert p.extract(p.solution) == p.answer


def test_a_perturbed_answer_grades_wrong():
    for p in arith.problems(3, 100):
        assert not arith.is_correct(p.solution.replace(f"Answer: {p.answer}", f"Answer: {p.answer + 1}"), p)
        assert not arith.is_correct(p.solution.rsplit("\n", 1)[0], p)  # no answer line at all


def test_problems_are_told_in_many_ways():
    questions = [p.question for p in arith.problems(0, 300)]
    openings = {q.split(".")[0].split()[-1] for q in questions}  # the item counted, e.g. "pens", "sheep"
    assert len(openings) >= 15
    for domain in arith.DOMAINS.values():
        assert any(any(s.split("{")[0] in q for s in domain["ask"]) for q in questions)
    # the first sentence, with numbers and names taken out, is one of many patterns, not one
    names = "|".join(name for name, _, _ in arith.NAMES)
    patterns = {re.sub(rf"\d+|{names}", "_", q.split(".")[0]) for q in questions}
    assert len(patterns) >= 30


def test_a_story_that_names_nobody_uses_no_pronouns():
    pronouns = re.compile(r"\b(she|he|her|him|She|He)\b")
    names = tuple(name for name, _, _ in arith.NAMES)
    unnamed = [p.question for p in arith.problems(4, 600) if not any(n in p.question for n in names)]
    assert len(unnamed) > 100
    assert not [q for q in unnamed if pronouns.search(q)]


def test_extract_answer_takes_the_last_answer_line():
    assert arith.extract_answer("2+3=5\nAnswer: 5") == 5
    assert arith.extract_answer("Answer: 4\nAnswer: 17") == 17
    assert arith.extract_answer("Answer:12") == 12
    assert arith.extract_answer("5+5=10") is None


def test_load_rejects_unknown_task_and_bad_limit():
    with pytest.raises(InvalidArgumentError, match="unknown task 'gsm9k'"):
        load("gsm9k", 0, 5)
    with pytest.raises(InvalidArgumentError, match="limit=0"):
        load("arith", 0, 0)


def test_a_slipped_solution_works_on_consistently_from_each_wrong_result():
    rng = random.Random(0)
    lines_total = slipped = 0
    for i in range(400):
        p = arith.problem("train", 6, i)
        steps = [re.fullmatch(r"(\d+)([-+*/])(\d+)=(\d+)", line).groups() for line in p.solution.split("\n")[:-1]]
        text = arith.with_slips(p.solution, 0.3, rng)
        lines = text.split("\n")
        assert len(lines) == len(steps) + 1
        value = int(steps[0][0])
        for line, (_, op, x, _) in zip(lines, steps):
            a, op2, b, c = re.fullmatch(r"(\d+)([-+*/])(\d+)=(\d+)", line).groups()
            assert (int(a), op2, b) == (value, op, x)  # the same operations, each on the value written before
            exact = {"+": value + int(b), "-": value - int(b), "*": value * int(b), "/": value / int(b)}[op]
            assert exact == int(exact) and 1 <= int(c) <= 999  # divisions stay exact, numbers in range
            slipped += int(c) != exact
            lines_total += 1
            value = int(c)
        assert lines[-1] == f"Answer: {value}"
    assert 0.2 < slipped / lines_total < 0.3  # about the rate (a few lines have no slip that keeps the rest valid)


def test_slips_are_seeded_and_off_at_rate_zero():
    p = arith.problem("train", 6, 3)
    assert arith.with_slips(p.solution, 0.0, random.Random(1)) == p.solution
    many = [arith.problem("train", 6, i).solution for i in range(50)]
    assert [arith.with_slips(s, 0.4, random.Random(i)) for i, s in enumerate(many)] == \
        [arith.with_slips(s, 0.4, random.Random(i)) for i, s in enumerate(many)]
    assert any(arith.with_slips(s, 0.4, random.Random(i)) != s for i, s in enumerate(many))
