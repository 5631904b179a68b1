"""The benchmark loaders on the real files of ../shared/data, graded on their own reference solutions (the
`reference` strategy's path: load -> extract -> grade), and the clear errors of missing or malformed files."""

import gzip
import json

import pytest

from ponder import tasks
from ponder.errors import InvalidArgumentError
from ponder.verifiers.answer import grade

FILES = {"gsm8k": "gsm8k/test.jsonl", "math500": "math500/test.jsonl", "aime24": "aime24/test.jsonl",
         "aime25": "aime25/aime25.jsonl", "humaneval": "humaneval/HumanEval.jsonl.gz"}


@pytest.mark.parametrize("task, count", [("gsm8k", 1319), ("math500", 500), ("aime24", 30), ("aime25", 30)])
def test_reference_solutions_grade_right_on_gold_data(shared_data, task, count):
    problems = tasks.load(task, data=str(shared_data / FILES[task]))
    assert len(problems) == count and len({p.id for p in problems}) == count
    missed = [p.id for p in problems if not grade(p, p.extract(p.solution))]
    assert missed == []
    # and grading is not vacuous: another problem's answer is wrong for (almost) every problem
    wrong = sum(grade(p, q.answer) for p, q in zip(problems, problems[1:] + problems[:1]))
    assert wrong <= count // 50


@pytest.mark.parametrize("frame", ["{}", "We simplify.\nAnswer: {}", "So the answer is ${}$."])
def test_math500_reference_answers_as_a_model_states_them_grade_right(shared_data, frame):
    # a bare answer (`ponder grade --candidate`), bare LaTeX on an answer line, LaTeX in prose: no \boxed to go by
    problems = tasks.load("math500", data=str(shared_data / FILES["math500"]))
    assert [p.answer for p in problems if not grade(p, p.extract(frame.format(p.answer)))] == []
    wrong = sum(grade(p, p.extract(frame.format(q.answer))) for p, q in zip(problems, problems[1:] + problems[:1]))
    assert wrong <= len(problems) // 50


def test_humaneval_canonical_solutions_pass_and_empty_bodies_fail(shared_data):
    problems = tasks.load("humaneval", data=str(shared_data / FILES["humaneval"]))
    assert len(problems) == 164 and problems[0].id == "HumanEval/0"
    assert sum(grade(p, p.extract(p.solution)) for p in problems) == 164
    assert sum(grade(p, p.question + "    pass\n") for p in problems) == 0


def test_loader_fields_and_prompts(shared_data):
    [gsm] = tasks.load("gsm8k", data=str(shared_data / FILES["gsm8k"]), limit=1)
    assert gsm.answer == "18" and gsm.solution.endswith("#### 18")
    assert "\\boxed{}" in gsm.prompt()[0]["content"]
    few = tasks.load("gsm8k", data=str(shared_data / FILES["gsm8k"]), limit=1, style="few-shot")[0]
    assert few.prompt().startswith("Question: There are 15 trees") and few.prompt().endswith(
        f"Question: {gsm.question}\nAnswer:") and few.stop == ("\nQuestion:",)
    math = tasks.load("math500", data=str(shared_data / FILES["math500"]), limit=3)
    assert math[0].id == "test/precalculus/807.json" and math[0].level == 2
    aime25 = tasks.load("aime25", data=str(shared_data / FILES["aime25"]))
    assert aime25[0].answer == 70 and not aime25[0].question.endswith("\\boxed{}.")
    aime24 = tasks.load("aime24", data=str(shared_data / FILES["aime24"]))
    assert aime24[0].id == "aime24/60" and aime24[0].answer == 204 and {p.answer for p in aime24} >= {25, 73}
    [he] = tasks.load("humaneval", data=str(shared_data / FILES["humaneval"]), limit=1)
    assert he.entry_point == "has_close_elements" and he.question in he.prompt()[0]["content"]


def test_answer_extraction_per_task():
    gsm, math = tasks.problem_for("gsm8k", "1000"), tasks.problem_for("math500", "\\frac{1}{2}")
    assert gsm.extract("so 1,000 in all.\n#### 1,000") == "1000" and gsm.extract("The answer is $5.") == "5"
    assert gsm.extract("3 + 4 = 7\n\nQuestion: what is 8?") == "7"  # a few-shot model's next question is not read
    assert math.extract("thus $x = \\boxed{\\frac{1}{2}}$.") == "\\frac{1}{2}" and grade(math, "0.5")
    choice = tasks.problem_for("math500", "\\text{(C)}")  # the answer as math-verify writes it, graded on its value
    assert choice.extract("The answer is $\\text{(C)}$.") == "\\text{(C)}" and grade(choice, "(C)")
    aime = tasks.problem_for("aime24", "113")
    assert aime.extract("= \\boxed{\\textbf{(113) }}$.\n~Stev") == 113 and aime.extract("\\boxed{104.}") == 104
    assert aime.extract("$180 + 24 = 204$. -sepehr2010") == 204  # a signature after the solution is not it
    code = tasks.problem_for("humaneval", "def check(f):\n    assert f(2) == 4\n", "double")
    assert grade(code, code.extract("```python\ndef double(x):\n    return 2 * x\n```"))
    assert not grade(code, code.extract("```python\ndef double(x):\n    return x + 1\n```"))


@pytest.mark.parametrize("content, message", [
    ('{"question": "q", "answer": "#### 1"}\n{"question": "q2"\n', "line 2: not valid JSON"),
    ('{"question": "q", "answer": "#### 1"}\n{"question": "q2", "solution": "x"}\n', "line 2: no field 'answer'"),
    ('{"question": "q", "answer": "no final line"}\n', "line 1: the answer has no '#### <number>' line"),
])
def test_malformed_data_file_is_one_clear_error_naming_file_and_line(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(InvalidArgumentError, match=message) as error:
        tasks.load("gsm8k", data=str(path))
    assert str(path) in str(error.value)


def test_missing_or_corrupt_files_and_missing_data_are_clear_errors(tmp_path):
    with pytest.raises(InvalidArgumentError, match="does not exist"):
        tasks.load("math500", data=str(tmp_path / "nope.jsonl"))
    with pytest.raises(InvalidArgumentError, match="needs --data"):
        tasks.load("aime24")
    broken = tmp_path / "cut.jsonl.gz"
    broken.write_bytes(gzip.compress(json.dumps({"task_id": "x"}).encode() * 50)[:40])
    with pytest.raises(InvalidArgumentError, match="cut.jsonl.gz"):
        tasks.load("humaneval", data=str(broken))
    with pytest.raises(InvalidArgumentError, match="hub"):  # no `datasets` library, or no network: said so
        tasks.load("gsm8k", data="openai/gsm8k")
    with pytest.raises(InvalidArgumentError, match="style"):
        tasks.load("gsm8k", data=str(broken), style="zero-shot")
