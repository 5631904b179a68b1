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
    proc = ponder("eval", "--task", "arith", "--seed", "3", "--limit", "6", "--strategy", "vote", "--budget", "2",
                  "--out", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert {"task", "strategy", "budget", "n_problems", "accuracy", "tokens_generated_per_problem", "wall_s"} <= summary.keys()
    assert summary["n_problems"] == 6 and 0 <= summary["accuracy"] <= 1
    records = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in records) == [f"arith-test-3-{i}" for i in range(6)]
    assert {r["key"] for r in records} == {f"vote@2/arith-test-3-{i}" for i in range(6)}
    assert summary["accuracy"] == pytest.approx(sum(r["correct"] for r in records) / 6, abs=1e-4)
    assert json.loads((tmp_path / "summaries.json").read_text()) == [summary]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["run"]["task"] == "arith" and len(manifest["model_files"]["model"]["model.safetensors"]) == 64
