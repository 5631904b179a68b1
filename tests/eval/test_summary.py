"""Summaries and records as types: their to_dict is the files' format, and the files in runs/ (written by earlier
versions) still load."""

import json
from pathlib import Path

import pytest

from ponder.errors import InvalidArgumentError
from ponder.eval.records import PoolRecord, Record
from ponder.eval.report import load_summaries, save_summaries
from ponder.eval.summary import PoolSummary, Summary, read_summary

RUNS = Path(__file__).parents[2] / "runs"


def test_a_run_folder_reads_back_into_the_same_json_key_for_key_and_in_order():
    entries = json.loads((RUNS / "arith-scaling" / "summaries.json").read_text())
    typed = [read_summary(entry) for entry in entries]
    assert [type(s) for s in typed] == [Summary] * 30 + [PoolSummary]
    for entry, summary in zip(entries, typed):
        written = summary.to_dict()
        assert written.pop("replicas") == 1  # the keys these summaries predate: one engine,
        assert written.pop("reasoning_tokens_per_problem") == 0  # no thinking: every generated token an answer's
        assert written.pop("answer_tokens_per_problem") == entry["tokens_generated_per_problem"]
        assert written.pop("cost_per_problem", None) is None and written.pop("stop_reasons", {}) == {}  # runs: none
        assert list(written.items()) == list(entry.items())


def test_summaries_of_earlier_versions_load_with_what_they_lack_as_none():
    files = sorted((RUNS / "strategies").rglob("*.json"))
    assert len(files) > 20
    for path in files:
        entry = json.loads(path.read_text())
        summary = read_summary(entry)
        assert isinstance(summary, Summary) and summary.key == f"arith/{summary.label}@{entry['budget']}"
        assert {k: v for k, v in summary.to_dict().items() if k in entry} == entry
    old = read_summary(json.loads((RUNS / "strategies" / "vote-4.json").read_text()))
    assert old.accuracy_ci95 is None and old.problems_run_now is None  # measured only since


def test_a_pool_summary_is_flat_in_its_file_and_marked_as_a_pool():
    pool = PoolSummary(task="arith", pool=2, n_problems=3, k=[1, 2], curves={"pass@k": [0.5, 0.7], "maj@k": [0.5, 0.5]},
                       intervals={"pass@k": [[0.1, 0.9], [0.3, 1.0]], "maj@k": [[0.1, 0.9], [0.1, 0.9]]},
                       coverage_fit={"a": -0.7, "b": -0.5, "r2": 1.0}, tokens_generated_per_sample=9.0,
                       tokens_generated_per_problem=18.0, wall_s=1.5, problems_run_now=3, temperature=0.7,
                       verifier=None, seed=0, model="ponder-arith")
    data = pool.to_dict()
    assert list(data)[:9] == ["task", "strategy", "pool", "n_problems", "k", "pass@k", "pass@k_ci95", "maj@k",
                              "maj@k_ci95"]
    assert data["strategy"] == "pool" and "curves" not in data and "best@k" not in data
    assert read_summary(json.loads(json.dumps(data))) == pool
    assert pool.key == "arith/pool@2"


def test_saving_replaces_a_summary_of_the_same_key_and_keeps_the_others_as_written(tmp_path):
    entries = json.loads((RUNS / "arith-scaling" / "summaries.json").read_text())
    (tmp_path / "summaries.json").write_text(json.dumps(entries))
    rerun = Summary.from_dict({**entries[0], "accuracy": 0.125, "options": {}})
    added = Summary.from_dict({**entries[0], "budget": 1000})
    save_summaries(tmp_path, [rerun, added])
    saved = json.loads((tmp_path / "summaries.json").read_text())
    assert saved[0] == rerun.to_dict() and saved[0]["accuracy"] == 0.125
    assert saved[1:-1] == entries[1:] and "replicas" not in saved[1]  # old entries untouched
    assert saved[-1]["budget"] == 1000 and len(saved) == len(entries) + 1
    assert [s.key for s in load_summaries(tmp_path)] == [read_summary(e).key for e in saved]


def test_records_round_trip_and_a_record_missing_a_field_is_one_clear_error():
    record = Record(key="vote@2/arith-1", id="arith-1", level=3, reference=7, answer=7, correct=True, samples=2,
                    tokens={"prompt": 10, "generated": 20, "by_model": {}}, stop_reason="budget", wall_s=0.5,
                    votes={"7": 2}, details={}, candidates=["... 7", "... 7"])
    assert Record.from_dict(json.loads(json.dumps(record.to_dict()))) == record and record.hit
    pool = PoolRecord(key="pool@2/arith-1", id="arith-1", level=3, reference=7, answers=[7, 6],
                      correct_samples=[False, False], tokens_samples=[9, 11], logprobs=[-1.0, -2.0], scores=None,
                      tokens={"prompt": 10, "generated": 20, "by_model": {}}, wall_s=0.5)
    assert PoolRecord.from_dict(pool.to_dict()) == pool and not pool.hit
    broken = record.to_dict()
    del broken["correct"], broken["samples"]
    with pytest.raises(InvalidArgumentError, match="'vote@2/arith-1' lacks correct, samples"):
        Record.from_dict(broken)
