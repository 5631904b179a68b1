"""The command line, run as a user runs it: a real subprocess, real models, its stdout, stderr and exit code."""

import json
import subprocess
import sys

import pytest


def ponder(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "ponder.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def assert_one_line_error(proc, *needles):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    for needle in needles:
        assert needle in lines[0]


def test_unknown_task_exits_2_with_one_line():
    assert_one_line_error(ponder("eval", "--task", "nosuch", "--strategy", "vote", "--budget", "4"), "'nosuch'")


def test_budget_below_one_exits_2_with_one_line():
    assert_one_line_error(ponder("eval", "--task", "arith", "--strategy", "vote", "--budget", "0"), "budget=0")
    assert_one_line_error(ponder("solve", "1+1?", "--budget", "-3"), "budget=-3")


def test_missing_model_folder_exits_2_with_one_line(tmp_path):
    missing = str(tmp_path / "no-such-model")
    assert_one_line_error(ponder("solve", "1+1?", "--model", missing), missing)
    assert_one_line_error(ponder("eval", "--task", "arith", "--strategy", "single", "--budget", "1",
                                 "--model", missing), missing)


def test_a_folder_that_is_not_a_model_exits_2(tmp_path):
    assert_one_line_error(ponder("solve", "1+1?", "--model", str(tmp_path)), "config.json")


def test_unknown_strategy_and_malformed_option_exit_2():
    assert_one_line_error(ponder("solve", "1+1?", "--strategy", "telepathy"), "'telepathy'")
    assert_one_line_error(ponder("eval", "--task", "arith", "--strategy", "vote", "--budget", "many"), "'--budget'")


def test_unknown_verifier_missing_verifier_and_bad_strategy_options_exit_2():
    assert_one_line_error(ponder("solve", "1+1?", "--strategy", "best-of-n", "--verifier", "oracle"), "'oracle'")
    assert_one_line_error(ponder("solve", "1+1?", "--strategy", "best-of-n", "--budget", "2"), "needs a verifier")
    assert_one_line_error(ponder("solve", "1+1?", "--strategy", "adaptive-vote", "--option", "confidence"),
                          "KEY=VALUE")
    assert_one_line_error(ponder("solve", "1+1?", "--strategy", "vote", "--option", "m=3"), "vote has no option 'm'")


def test_unknown_benchmark_case_or_backend_exits_2():
    assert_one_line_error(ponder("bench", "nosuch"), "'nosuch'")
    assert_one_line_error(ponder("bench", "engine", "--case", "warp"), "'warp'")
    assert_one_line_error(ponder("solve", "1+1?", "--backend", "vllm"), "'vllm'")


def test_help_teaches_the_commands():
    proc = ponder("--help")
    assert proc.returncode == 0
    for command in ("solve", "eval", "train", "bench", "demo"):
        assert command in proc.stdout


def test_solve_json_prints_exactly_one_result_object():
    proc = ponder("solve", "Mia has 23 pens. She buys 15 more. How many pens does she have now?",
                  "--strategy", "vote", "--budget", "4", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert {"answer", "strategy", "budget", "samples", "tokens", "wall_s", "stop_reason", "candidates"} <= result.keys()
    assert result["strategy"] == "vote" and result["samples"] == 4 and len(result["candidates"]) == 4
    assert result["tokens"]["generated"] > 0 and result["tokens"]["prompt"] > 0


def test_eval_json_summary_and_result_files(tmp_path):
    proc = ponder("eval", "--task", "arith", "--seed", "3", "--limit", "3", "--strategy", "vote", "--budget", "2",
                  "--out", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert {"task", "strategy", "budget", "n_problems", "accuracy", "tokens_generated_per_problem", "wall_s"} <= summary.keys()
    assert summary["n_problems"] == 3 and 0 <= summary["accuracy"] <= 1
    records = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in records) == [f"arith-test-3-{i}" for i in range(3)]
    assert {r["key"] for r in records} == {f"vote@2/arith-test-3-{i}" for i in range(3)}
    assert summary["accuracy"] == pytest.approx(sum(r["correct"] for r in records) / 3, abs=1e-4)
    assert json.loads((tmp_path / "summaries.json").read_text()) == [summary]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["run"]["task"] == "arith" and len(manifest["model_files"]["model"]["model.safetensors"]) == 64


@pytest.mark.parametrize("task, reference, candidate, correct", [
    ("math500", "\\frac{1}{2}", "0.5", True),
    ("math500", "\\frac{1}{2}", "so the answer is $\\boxed{\\frac{2}{4}}$", True),
    ("math500", "\\frac{1}{2}", "\\boxed{2}", False),
    ("gsm8k", "1000", "#### 1,000", True),
    ("aime24", "25", "\\boxed{025}", True),
    ("arith", "7", "3+4=7\nAnswer: 8", False),
])
def test_grade_prints_whether_one_answer_is_right(task, reference, candidate, correct):
    proc = ponder("grade", "--task", task, "--reference", reference, "--candidate", candidate, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["correct"] is correct


def test_grade_humaneval_runs_the_tests_in_the_sandbox():
    tests = "def check(f):\n    assert f(3) == 9\n"
    right = ponder("grade", "--task", "humaneval", "--reference", tests, "--entry-point", "square",
                   "--candidate", "def square(x):\n    return x * x\n", "--json")
    wrong = ponder("grade", "--task", "humaneval", "--reference", tests, "--entry-point", "square",
                   "--candidate", "import os\nos.system('true')\ndef square(x):\n    return x * x\n", "--json")
    assert json.loads(right.stdout)["correct"] is True and json.loads(wrong.stdout)["correct"] is False
    assert_one_line_error(ponder("grade", "--task", "humaneval", "--reference", tests, "--candidate", "x"),
                          "--entry-point")
    assert_one_line_error(ponder("grade", "--task", "aime25", "--reference", "many", "--candidate", "1"), "integer")


def test_eval_grid_and_pool_then_report_writes_markdown_and_plots(tmp_path):
    proc = ponder("eval", "--task", "arith", "--seed", "2", "--limit", "2", "--strategy", "single,vote",
                  "--budget", "1,2", "--pool", "4", "--out", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    summaries = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(s["strategy"], s.get("budget", s.get("pool"))) for s in summaries] == [
        ("single", 1), ("single", 2), ("vote", 1), ("vote", 2), ("pool", 4)]
    pool = summaries[-1]
    assert pool["k"] == [1, 2, 3, 4] and len(pool["pass@k"]) == len(pool["maj@k"]) == 4
    assert pool["pass@k"][0] == pytest.approx(pool["maj@k"][0]) and pool["pass@k"] == sorted(pool["pass@k"])
    for low_high, value in zip(pool["pass@k_ci95"], pool["pass@k"]):
        assert low_high[0] <= value <= low_high[1]
    records = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert len(records) == 4 * 2 + 2 and all(len(r["answers"]) == 4 for r in records if r["key"].startswith("pool"))

    report = ponder("report", str(tmp_path), "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr
    text = (tmp_path / "report" / "report.md").read_text()
    assert "| arith | vote | 2 | 2 |" in text and "a pool of 4 samples on 2 problems" in text
    for plot in ("accuracy_vs_tokens.png", "coverage.png"):
        assert (tmp_path / "report" / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert_one_line_error(ponder("report", str(tmp_path / "empty")), "summaries.json")


def test_eval_benchmarks_need_their_data_and_say_so():
    assert_one_line_error(ponder("eval", "--task", "gsm8k", "--strategy", "vote", "--budget", "4"), "--data")
    assert_one_line_error(ponder("eval", "--task", "arith"), "--strategy")


def test_grid_options_can_target_one_strategy(tmp_path):
    proc = ponder("eval", "--task", "arith", "--limit", "2", "--strategy", "vote,adaptive-vote", "--budget", "4",
                  "--option", "adaptive-vote.confidence=0.9", "--out", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    vote, adaptive = [json.loads(line) for line in proc.stdout.splitlines()]
    assert vote["options"] == {} and adaptive["options"] == {"confidence": "0.9"}
    keys = {json.loads(line)["key"].split("/")[0] for line in (tmp_path / "records.jsonl").read_text().splitlines()}
    assert keys == {"vote@4", "adaptive-vote[confidence=0.9]@4"}
    assert_one_line_error(ponder("eval", "--task", "arith", "--strategy", "vote", "--option", "telepathy.m=1"),
                          "'telepathy' is not a strategy")


def test_a_prompt_longer_than_the_context_stops_the_run_with_one_line_naming_the_problem(tmp_path):
    data = tmp_path / "long.jsonl"
    data.write_text(json.dumps({"question": "How many? " * 10, "answer": "#### 1"}) + "\n"
                    + json.dumps({"question": "How many? " * 200, "answer": "#### 2"}) + "\n")
    proc = ponder("eval", "--task", "gsm8k", "--data", str(data), "--strategy", "vote", "--budget", "2",
                  "--max-tokens", "8", "--out", str(tmp_path / "run"))
    assert_one_line_error(proc, "problem gsm8k/1", "context is 512")


def test_no_arguments_prints_the_help_as_help_does():
    proc = ponder()
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout == ponder("--help").stdout and "Usage:" in proc.stdout
    assert_one_line_error(ponder("solve"), "Missing argument", "'question'")


def test_an_unknown_benchmark_is_one_line_listing_the_benchmarks():
    from ponder.bench import BENCHMARKS

    assert_one_line_error(ponder("bench", "nope"), "unknown benchmark 'nope'", *(f"'{name}'" for name in BENCHMARKS))
    assert set(BENCHMARKS) == {"engine", "server", "llamacpp", "reasoning", "strategies"}


def test_benchmark_options_are_checked_before_any_work():
    assert_one_line_error(ponder("bench", "server", "--peer", "vllm"), "--peer is for")
    assert_one_line_error(ponder("bench", "server", "--clients", "0"), "--clients")
    assert_one_line_error(ponder("bench", "strategies", "--limit", "5"), "needs a server")
    assert_one_line_error(ponder("bench", "strategies", "--peer", "nosuch"), "unknown peer 'nosuch'")
    assert_one_line_error(ponder("bench", "llamacpp", "--limit", "0"), "--limit must be >= 1")
    assert_one_line_error(ponder("bench", "engine", "--peer", "vllm", "--new-tokens", "0"), "--new-tokens")


def test_eval_prints_its_summaries_and_pool_as_tables():
    proc = ponder("eval", "--task", "arith", "--seed", "4", "--limit", "3", "--strategy", "vote", "--budget", "2",
                  "--pool", "2")
    assert proc.returncode == 0, proc.stderr
    assert "arith: 3 problems" in proc.stdout and "vote@2" in proc.stdout
    assert "arith: a pool of 2 samples on 3 problems" in proc.stdout and "pass@k" in proc.stdout


def test_an_empty_data_file_exits_2_with_one_line_naming_it(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert_one_line_error(ponder("eval", "--task", "gsm8k", "--data", str(empty), "--strategy", "vote"),
                          f"data file {empty} holds no records")
    assert_one_line_error(ponder("eval", "--task", "arith", "--limit", "0", "--strategy", "vote"), "limit=0")


def test_a_reward_model_given_as_the_model_exits_2_pointing_to_the_verifier():
    assert_one_line_error(ponder("solve", "1+1?", "--model", "ponder-arith-orm"),
                          "ponder-arith-orm is a reward model (LlamaForSequenceClassification); use it as --verifier orm")


def test_an_option_no_strategy_of_the_run_would_read_is_refused_not_dropped():
    assert_one_line_error(ponder("eval", "--task", "arith", "--limit", "1", "--pool", "2", "--option", "m=3"),
                          "no strategy of this run takes options")
    assert_one_line_error(ponder("eval", "--task", "arith", "--strategy", "vote", "--option",
                                 "adaptive-vote.confidence=0.9"), "adaptive-vote is not among --strategy")
    assert_one_line_error(ponder("eval", "--task", "arith", "--strategy", "reference", "--option", "m=3"),
                          "no strategy of this run takes options")


def test_solve_and_eval_keep_a_runs_tokens_seconds_and_dollars(tmp_path):
    """--deadline, --max-total-tokens, --max-cost with --prices: the limit named in each Result (and counted in a
    summary's stop_reasons), the caps never passed, the cost in every record; bad values one line each, exit 2."""
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"ponder-arith": {"prompt": 1.0, "generated": 4.0}}))
    question = "Mia has 23 pens. She buys 15 more. How many pens does she have now?"
    late = ponder("solve", question, "--strategy", "vote", "--budget", "16", "--deadline", "0.005", "--json")
    assert late.returncode == 0, late.stderr
    result = json.loads(late.stdout)
    assert result["stop_reason"] == "deadline" and result["answer"] is not None
    priced = ponder("eval", "--task", "arith", "--limit", "6", "--strategy", "vote", "--budget", "8",
                    "--max-total-tokens", "200", "--max-cost", "0.0009", "--prices", str(prices), "--json",
                    "--out", str(tmp_path / "run"))
    assert priced.returncode == 0, priced.stderr
    summary = json.loads(priced.stdout)
    assert set(summary["stop_reasons"]) <= {"tokens", "cost"} and summary["cost_per_problem"] <= 0.0009
    records = [json.loads(line) for line in (tmp_path / "run" / "records.jsonl").read_text().splitlines()]
    assert all(r["tokens"]["generated"] <= 200 and 0 < r["cost"] <= 0.0009 for r in records)
    for args, needles in ((["--max-cost", "0.01"], ["max_cost needs the models' prices"]),
                          (["--deadline", "-1"], ["deadline=-1.0 must be"]),
                          (["--max-total-tokens", "8"], ["max_total_tokens=8 must be > 16"]),
                          (["--max-cost", "0.01", "--prices", str(tmp_path / "none.json")],
                           ["cannot read the price table"])):
        assert_one_line_error(ponder("solve", question, "--strategy", "vote", *args), *needles)
