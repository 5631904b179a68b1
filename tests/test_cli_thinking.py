"""The command line's thinking options (issue #17): the flags reach SamplingParams and the runtime's reasoning
markers, eval reports reasoning and answer tokens, and solve shows the winning candidate's reasoning apart from its
content. The shipped ponder-arith does not think: thinking control asked of it is refused, and its tokens are all
answer tokens."""

import json
from types import SimpleNamespace

from test_cli import assert_one_line_error, ponder

from ponder.eval.pool import summarize_pool
from ponder.eval.records import PoolRecord
from ponder.eval.summary import Summary
from ponder.models import resolve
from ponder.reasoning import ReasoningMarkers
from ponder.strategies import Candidate, Result

QUESTION = "Mia has 23 pens. She buys 15 more. How many pens does she have now?"


def test_bad_thinking_values_exit_2_with_one_line_naming_the_field():
    assert_one_line_error(ponder("solve", "1+1?", "--thinking-budget", "-1"), "thinking_budget=-1")
    assert_one_line_error(ponder("eval", "--task", "arith", "--strategy", "vote", "--answer-reserve", "256"),
                          "answer_reserve=256", "max_tokens=256")
    assert_one_line_error(ponder("eval", "--task", "arith", "--pool", "2", "--answer-reserve", "-1"),
                          "answer_reserve=-1")
    assert_one_line_error(ponder("solve", "1+1?", "--thinking-budget", "4", "--min-thinking-tokens", "9"),
                          "min_thinking_tokens=9 must be <= thinking_budget=4")
    assert_one_line_error(ponder("solve", "1+1?", "--reasoning-markers", "x"), "'x'", "START,END")
    assert_one_line_error(ponder("eval", "--task", "arith", "--strategy", "vote", "--reasoning-markers",
                                 "<think>,<think>"), "two different")


def test_thinking_control_on_a_model_that_does_not_think_is_refused_by_the_engine():
    """The flags reach the engine's SamplingParams: ponder-arith has no reasoning markers, so it refuses them."""
    assert_one_line_error(ponder("solve", "1+1?", "--thinking-budget", "8", "--max-tokens", "16"),
                          "thinking_budget needs a thinking model")
    assert_one_line_error(ponder("eval", "--task", "arith", "--limit", "2", "--strategy", "single",
                                 "--min-thinking-tokens", "4", "--max-tokens", "16"),
                          "min_thinking_tokens needs a thinking model")


def test_eval_json_reports_reasoning_and_answer_tokens_and_the_run_keeps_its_thinking_settings(tmp_path):
    proc = ponder("eval", "--task", "arith", "--seed", "5", "--limit", "2", "--strategy", "vote", "--budget", "2",
                  "--pool", "2", "--no-thinking", "--answer-reserve", "0", "--reasoning-markers", "<think>,</think>",
                  "--out", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    summaries = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [s["strategy"] for s in summaries] == ["vote", "pool"]
    for summary in summaries:
        assert summary["tokens_generated_per_problem"] > 0
        assert summary["reasoning_tokens_per_problem"] == 0
        assert summary["answer_tokens_per_problem"] == summary["tokens_generated_per_problem"]
    records = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    pooled = [r for r in records if r["key"].startswith("pool@2/")]
    assert len(pooled) == 2 and all(r["reasoning_samples"] == [0, 0] for r in pooled)
    assert all(r["tokens"]["reasoning"] == 0 and r["tokens"]["answer"] == r["tokens"]["generated"] for r in records)
    run = json.loads((tmp_path / "manifest.json").read_text())["run"]
    assert run["enable_thinking"] is False and run["answer_reserve"] == 0
    assert run["reasoning_markers"] == "<think>,</think>" and "thinking_budget" not in run


def test_solve_json_adds_the_winning_candidates_reasoning_and_content_and_a_terminal_shows_them():
    args = ("solve", QUESTION, "--strategy", "vote", "--budget", "2", "--max-tokens", "64", "--temperature", "0")
    proc = ponder(*args, "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    winning = next(c for c in result["candidates"] if c["answer"] == result["answer"])
    assert result["reasoning"] == "" and result["content"] == winning["text"]  # a model that does not think
    assert result["tokens"]["reasoning"] == 0 and result["tokens"]["answer"] == result["tokens"]["generated"]
    shown = ponder(*args)  # the same greedy samples: the winner's text plain (no reasoning to dim), then the answer
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"{result['content']}\nAnswer: {result['answer']}\nvote@2: 2 samples")


def test_the_winner_is_split_with_the_generators_markers():
    from ponder.cli.run import winner

    def result(*texts_and_answers):
        candidates = [Candidate(text, answer, 10, "stop", -1.0) for text, answer in texts_and_answers]
        return Result(38, "vote", 2, 2, {}, 0.1, "budget", candidates)

    thinking = SimpleNamespace(markers=ReasoningMarkers(), tokenizer=None)
    sampling = SimpleNamespace(enable_thinking=True)
    asked = SimpleNamespace(prompt=lambda: [{"role": "user", "content": QUESTION}])
    text = "<think>\n23+15=38\n</think>\n\nAnswer: 38"
    assert winner(result(("Answer: 30", 30), (text, 38), ("Answer: 38", 38)), thinking, asked, sampling) == \
        ("23+15=38", "Answer: 38")
    opened = SimpleNamespace(prompt=lambda: f"Q: {QUESTION}\n<think>\n")  # the prompt opened the think block
    assert winner(result(("23+15=38", 38)), thinking, opened, sampling) == ("23+15=38", "")  # cut off thinking
    no_markers = SimpleNamespace(tokenizer=None)  # a generator that cannot say (a replica pool's)
    assert winner(result((text, 38)), no_markers, asked, sampling) == ("", text)
    assert winner(result(("Answer: 30", 30)), thinking, asked, sampling) == ("", "")


def test_summaries_and_pool_records_of_an_earlier_version_count_no_reasoning():
    old = dict(task="arith", strategy="vote", budget=2, n_problems=2, accuracy=1.0, accuracy_by_level={"1": 1.0},
               samples_per_problem=2.0, tokens_generated_per_problem=44.0, tokens_prompt_per_problem=90.0,
               tokens_generated_per_problem_by_model={"ponder-arith": 44.0}, wall_s=1.0, wall_s_per_problem=0.5,
               latency_s_per_problem=0.5, concurrency=2, temperature=0.7, verifier=None, seed=0)
    summary = Summary.from_dict(old)
    assert summary.reasoning_tokens_per_problem == 0 and summary.answer_tokens_per_problem == 44.0
    record = PoolRecord.from_dict(dict(key="pool@2/a", id="a", level=1, reference=3, answers=[3, 4],
                                       correct_samples=[True, False], tokens_samples=[10, 12], logprobs=[-1.0, -2.0],
                                       scores=None, tokens={"prompt": 40, "generated": 22}, wall_s=0.1))
    assert record.reasoning_samples is None
    pool = summarize_pool([record], 2, task="arith", wall_s=0.1, temperature=0.7, verifier=None, seed=0)
    assert pool.reasoning_tokens_per_problem == 0 and pool.answer_tokens_per_problem == 22.0
    thinking = PoolRecord.from_dict({**record.to_dict(), "reasoning_samples": [6, 8]})
    pool = summarize_pool([thinking], 2, task="arith", wall_s=0.1, temperature=0.7, verifier=None, seed=0)
    assert pool.reasoning_tokens_per_problem == 14 and pool.answer_tokens_per_problem == 8


def test_the_thinking_model_reports_its_reasoning_apart_from_its_answer(tmp_path):
    """ponder-arith-think: solve --json has the winner's reasoning and content; eval's reasoning and answer tokens
    add up to the generated ones; --thinking-budget holds each sample's reasoning to the budget; --no-thinking
    spends none."""
    think = ("--model", "ponder-arith-think")
    result = json.loads(ponder("solve", QUESTION, *think, "--strategy", "vote", "--budget", "4", "--json").stdout)
    assert result["reasoning"] and "Answer:" in result["content"] and "</think>" not in result["content"]
    assert result["tokens"]["reasoning"] + result["tokens"]["answer"] == result["tokens"]["generated"]
    assert all(0 < c["reasoning_tokens"] < c["tokens"] for c in result["candidates"])

    common = ("eval", "--task", "arith", "--limit", "1", "--strategy", "vote", "--budget", "2", *think, "--json")
    free, capped, off = (json.loads(ponder(*common, *extra).stdout.splitlines()[0]) for extra in
                         ((), ("--thinking-budget", "6"), ("--no-thinking", "--temperature", "0.5")))
    shipped = json.loads((resolve("ponder-arith-think") / "generation_config.json").read_text())["temperature"]
    assert free["temperature"] == capped["temperature"] == shipped != 0.7  # the model's own, unless one is given
    assert off["temperature"] == 0.5
    for summary in (free, capped, off):
        assert summary["reasoning_tokens_per_problem"] + summary["answer_tokens_per_problem"] == \
            summary["tokens_generated_per_problem"]
    assert free["reasoning_tokens_per_problem"] > 2 * 6  # two samples a problem, each thinking longer than 6
    assert capped["reasoning_tokens_per_problem"] == 2 * 6
    assert off["reasoning_tokens_per_problem"] == 0


def test_demo_shows_the_thinking_model_with_no_warning():
    out = ponder("demo", "--limit", "1", "--budget", "2")
    assert out.returncode == 0, out.stderr
    assert "warning" not in out.stderr.lower() and "Traceback" not in out.stderr  # stderr: the progress bars
    assert "thinking" in out.stdout and "short-vote@2" in out.stdout and "vote@2 is" in out.stdout
