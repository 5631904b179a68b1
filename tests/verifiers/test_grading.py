"""Grading free-form math answers the way `ponder eval` does (the task extracts, verifiers.answer grades): a table of
MATH-style reference answers against whole model texts and bare answers, right and wrong; the command line on a
bare "1/2"; and grading off the main thread, where math-verify's timeout cannot be set."""

import json
import subprocess
import sys

import pytest

from ponder import tasks
from ponder.verifiers.answer import classes, grade

REVISED = ("We first get $\\boxed{\\frac{1}{3}}$ but that misses the case $n = 0$ of the sum. Adding it back, the "
           "total is $\\boxed{\\frac{1}{2}}$.")
MATRIX = "\\begin{pmatrix} -2 \\\\ -14 \\\\ -7 \\end{pmatrix}"

# (reference as MATH-500 writes it, the model's text or bare answer, whether it is right)
PAIRS = [
    # fractions and decimals, bare and in prose
    ("\\frac{1}{2}", "1/2", True),
    ("\\frac{1}{2}", "Answer: 1/2", True),
    ("\\frac{1}{2}", "Halving it, we get 0.5", True),
    ("\\frac{1}{2}", "Answer: 1/3", False),
    ("\\frac{14}{3}", "\\dfrac{14}{3}", True),
    ("\\frac{14}{3}", "The answer is 4.67.", False),
    ("\\frac{3}{56}", "So the probability is 3/56.", True),
    # polynomials and equations
    ("x^2+2x+1", "Expanding, the answer is $x^2+2x+1$.", True),
    ("x^2+2x+1", "the answer is $(x+1)^2$", True),
    ("x^2+2x+1", "The answer is $x^2+2x+2$.", False),
    ("x^5 - x^4 + x^3 - x^2 + x - 1", "So $p(x) = x^5 - x^4 + x^3 - x^2 + x - 1$.", True),
    ("y = 2x + 3", "The line is $y=2x+3$.", True),
    ("y = 2x + 3", "The line is $y=3x+2$.", False),
    ("x=5", "Solving, $x = 5$.", True),
    ("5", "Solving, $x = 5$.", True),
    # tuples, intervals, sets, vectors
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "In polar form the point is $\\boxed{(3, \\frac{\\pi}{2})}$.", True),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "In polar form the point is $\\boxed{(3, \\pi)}$.", False),
    ("(1,2)", "Answer: (1, 2)", True),
    ("(1,2)", "Answer: (2, 1)", False),
    ("[2,5)", "The domain is $\\boxed{[2,5)}$.", True),
    ("[2,5)", "The domain is $\\boxed{[2,5]}$.", False),
    ("(-\\infty, 3) \\cup (3, \\infty)", "So $x \\in \\boxed{(-\\infty,3)\\cup(3,\\infty)}$.", True),
    ("3, 5, 7", "The solutions are $\\boxed{7, 5, 3}$.", True),
    ("3, 5, 7", "The solutions are $\\boxed{3, 5}$.", False),
    (MATRIX, f"$\\boxed{{{MATRIX}}}$", True),
    (MATRIX, "$\\boxed{\\begin{pmatrix} -2 \\\\ -14 \\\\ 7 \\end{pmatrix}}$", False),
    # roots, pi, complex numbers
    ("2\\sqrt{5}", "\\sqrt{20}", True),
    ("2\\sqrt{5}", "Answer: 2\\sqrt{5}", True),
    ("2\\sqrt{5}", "The answer is $\\boxed{\\sqrt{5}}$", False),
    ("\\frac{\\pi}{3}", "The answer is \\frac{\\pi}{3}.", True),
    ("\\pi", "\\boxed{3.14}", False),
    ("-2 + 7i", "$\\boxed{7i - 2}$", True),
    ("6 - 5i", "\\boxed{6+5i}", False),
    # degrees, units, percents, dollars
    ("30^\\circ", "The angle is $\\boxed{30^\\circ}$.", True),
    ("30^\\circ", "\\boxed{30}", True),
    ("30^\\circ", "\\boxed{60^\\circ}", False),
    ("15\\mbox{ cm}^2", "The area is $\\boxed{15 \\text{ cm}^2}$.", True),
    ("10\\%", "The rate rises by $\\boxed{10\\%}$.", True),
    ("\\$18.90", "She pays \\$18.90 in all, so the answer is $\\boxed{18.90}$.", True),
    ("1000", "Final Answer: The final answer is $1,\\!000$. I hope it is correct.", True),
    # text answers and choices
    ("\\text{Evelyn}", "Evelyn runs fastest, so the answer is $\\boxed{\\text{Evelyn}}$.", True),
    ("\\text{Evelyn}", "The answer is Evelyn.", True),
    ("\\text{Evelyn}", "\\boxed{\\text{Navin}}", False),
    ("\\text{(C)}", "The answer is $\\text{(C)}$.", True),
    ("\\text{(C)}", "Answer: (B)", False),
    # the last box among several; boxes listed together are one answer (math-verify's rule)
    ("\\frac{1}{2}", REVISED, True),
    ("\\frac{1}{3}", REVISED, False),
    ("2, 3", "The roots are $\\boxed{2}$ and $\\boxed{3}$.", True),
    # no LaTeX at all: the last number
    ("12", "Counting the cases gives 5 + 7 = 12 ways", True),
    ("12", "Counting the cases gives 5 + 7 = 13 ways", False),
]


@pytest.mark.parametrize("reference, text, right", PAIRS)
def test_math_answers_are_read_and_graded(reference, text, right):
    problem = tasks.problem_for("math500", reference)
    assert grade(problem, problem.extract(text)) is right


@pytest.mark.parametrize("text, answer", [
    ("1/2", "\\frac{1}{2}"),  # math-verify writes what it read as LaTeX
    ("Answer: (1, 2)", "(1, 2)"),  # bare LaTeX on an answer line, whole (not its last number)
    ("the answer is $x^2+2x+1$", "x^2+2x+1"),
    (REVISED, "\\frac{1}{2}"),
    ("So the probability is 3/56.", "3/56"),  # the sentence's full stop is not the answer's
    ("The answer is Evelyn.", "\\text{Evelyn}"),
    ("We cannot tell.", None),
])
def test_what_is_extracted(text, answer):
    assert tasks.problem_for("math500", "0").extract(text) == answer


def test_aime_and_gsm8k_stay_numbers():
    aime, gsm = tasks.problem_for("aime24", "25"), tasks.problem_for("gsm8k", "1000")
    assert aime.extract("Answer: $\\boxed{025}$") == 25 and grade(aime, 25) and not grade(aime, 26)
    assert gsm.extract("She pays 1/2 of it.\n#### 1,000") == "1000" and grade(gsm, "1000.0") and not grade(gsm, "999")


def test_a_vote_pools_equivalent_answers_in_one_class():
    problem = tasks.problem_for("math500", "\\frac{1}{2}")
    texts = ["Answer: 1/2", "$\\boxed{0.5}$", "the answer is $\\frac{2}{4}$", "\\boxed{\\frac13}", "no idea"]
    assert classes([problem.extract(t) for t in texts]) == [0, 0, 0, 1, None]


OFF_MAIN_THREAD = r"""
import json
from concurrent.futures import ThreadPoolExecutor
from ponder import tasks
from ponder.verifiers.answer import classes, grade

def work():
    problem = tasks.problem_for("math500", r"(-\infty, 3) \cup (3, \infty)")
    answer = problem.extract(r"So $x \in \boxed{(3, \infty) \cup (-\infty, 3)}$.")
    return answer, grade(problem, answer), classes([r"\frac{1}{4}", "0.25", r"\dfrac{2}{8}", "4"])

with ThreadPoolExecutor(1) as pool:
    print(json.dumps(pool.submit(work).result()))
"""


def test_grading_off_the_main_thread_is_the_same_and_silent():
    # math-verify's SIGALRM timeout cannot be set off the main thread, where a Ray actor's event loop runs: there
    # it runs without one, and says nothing about it
    proc = subprocess.run([sys.executable, "-c", OFF_MAIN_THREAD], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert json.loads(proc.stdout) == [r"(3, \infty) \cup (-\infty, 3)", True, [0, 0, 0, 1]]


def test_ponder_grade_reads_a_bare_fraction():
    for candidate in ("1/2", "Answer: 1/2"):
        proc = subprocess.run([sys.executable, "-m", "ponder.cli", "grade", "--task", "math500", "--reference",
                               "\\frac{1}{2}", "--candidate", candidate, "--json"], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr
        assert json.loads(proc.stdout) == {"correct": True, "task": "math500", "extracted": "\\frac{1}{2}"}
