"""Allocation across a batch (`ponder eval --tokens-per-problem`): rounds give more samples to problems whose vote
is open than to settled ones, and the batch spends about its average budget."""

import json
import subprocess
import sys

import pytest

from ponder.eval.allocate import openness, shares
from ponder.strategies.base import Candidate


def votes(*answers):
    return [Candidate(f"Answer: {a}", a, 10, "stop", -1.0) for a in answers]


def test_a_round_goes_to_the_open_votes_in_proportion():
    settled, split, lost = openness(votes(7, 7, 7, 7)), openness(votes(7, 8, 7, 8)), openness(votes(None, None))
    assert settled < 0.1 < lost == 0.25 < split == 0.5
    # a vote adaptive-vote would stop on draws no more: two agreeing samples (0.875), 4 to 1 (0.89); 3 to 1 draws
    assert settled == openness(votes(7, 7)) == openness(votes(7, 7, 7, 7, 8)) == 0.0 < openness(votes(7, 7, 7, 8))
    counts = shares([settled, split, lost, 0.0], tokens=1000, sample_tokens=[100] * 4)
    assert sum(counts) == 10 and counts[3] == 0 and counts[0] < counts[2] < counts[1]
    assert shares([0.0, 0.0], 1000, [100, 100]) == [0, 0] and shares([1.0], 50, [100]) == [0]  # nothing to buy
    # each sample priced at its problem's own length: a round never spends more than it has
    counts = shares([0.5, 0.5], tokens=1000, sample_tokens=[50, 150])
    assert counts == [11, 3] and 11 * 50 + 3 * 150 <= 1000


def test_eval_spends_the_batchs_average_where_votes_are_open(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ponder.cli", "eval", "--task", "arith", "--seed", "8", "--limit",
                           "12", "--tokens-per-problem", "200", "--out", str(tmp_path), "--json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["strategy"] == "allocate" and summary["stop_reasons"] == {"allocated": 12}
    assert 150 <= summary["tokens_generated_per_problem"] <= 200  # the average, not a cap per problem
    records = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert len(records) == 12 and all(r["samples"] >= 2 for r in records)
    agreed = [r["samples"] for r in records if len(r["votes"]) == 1]
    split = [r["samples"] for r in records if len(r["votes"]) > 1]
    assert agreed and split and sum(split) / len(split) > sum(agreed) / len(agreed)  # open votes got more


@pytest.mark.parametrize("value", ["0", "-5"])
def test_a_bad_average_is_one_clear_error(value):
    proc = subprocess.run([sys.executable, "-m", "ponder.cli", "eval", "--task", "arith", "--tokens-per-problem",
                           value], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--tokens-per-problem" in proc.stderr and "Traceback" not in proc.stderr
