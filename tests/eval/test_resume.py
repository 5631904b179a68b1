"""A run killed (SIGKILL) at several points, then resumed, ends with the summary of an uninterrupted run, every
record exactly once and no torn line; a run folder refuses to resume a run with other settings."""

import json
import signal
import subprocess
import sys
import time

import pytest

RUN = ["eval", "--task", "arith", "--seed", "5", "--limit", "8", "--strategy", "vote,single", "--budget", "2",
       "--temperature", "0.7", "--json"]
MEASURED_NOW = ("wall_s", "wall_s_per_problem", "latency_s_per_problem", "problems_run_now")


def ponder(*args):
    return subprocess.Popen([sys.executable, "-m", "ponder.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def lines(folder):
    path = folder / "records.jsonl"
    return path.read_bytes().count(b"\n") if path.exists() else 0


def kill_when(folder, records: int, timeout: float = 120) -> None:
    """Start the run and SIGKILL it once `records` records are on disk (0: as soon as it has started)."""
    process = ponder(*RUN, "--out", str(folder))
    deadline = time.monotonic() + timeout
    while lines(folder) < records and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if records == 0:
        time.sleep(1.0)  # loading: killed before any record
    process.send_signal(signal.SIGKILL)
    process.wait()


def comparable(summaries):
    return [{k: v for k, v in s.items() if k not in MEASURED_NOW} for s in summaries]


@pytest.mark.slow
def test_killed_and_resumed_run_equals_an_uninterrupted_one(tmp_path):
    whole = ponder(*RUN, "--out", str(tmp_path / "whole"))
    out, err = whole.communicate(timeout=300)
    assert whole.returncode == 0, err
    expected = [json.loads(line) for line in out.splitlines()]

    folder = tmp_path / "killed"
    for records in (0, 3, 9):  # before any record, in the first strategy, in the second
        kill_when(folder, records)
    with open(folder / "records.jsonl", "ab") as f:  # and a crash in the middle of writing a line
        f.write(b'{"key": "single@2/arith-test-5-7", "id": "arith-te')
    resumed = ponder(*RUN, "--out", str(folder))
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    got = [json.loads(line) for line in out.splitlines()]
    assert comparable(got) == comparable(expected)
    assert sum(s["problems_run_now"] for s in got) < 16  # it resumed: some records were already there

    records = [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]  # none torn
    keys = [r["key"] for r in records]
    assert len(keys) == len(set(keys)) == 16
    assert json.loads((folder / "summaries.json").read_text()) == got


def test_a_run_folder_resumes_only_the_same_run(tmp_path):
    first = subprocess.run([sys.executable, "-m", "ponder.cli", "eval", "--task", "arith", "--limit", "2",
                            "--strategy", "single", "--out", str(tmp_path)], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    other = subprocess.run([sys.executable, "-m", "ponder.cli", "eval", "--task", "arith", "--limit", "2",
                            "--strategy", "single", "--temperature", "0.2", "--out", str(tmp_path)],
                           capture_output=True, text=True)
    assert other.returncode == 2 and "temperature: 0.7 -> 0.2" in other.stderr and "Traceback" not in other.stderr
    again = subprocess.run([sys.executable, "-m", "ponder.cli", "eval", "--task", "arith", "--limit", "2",
                            "--strategy", "single", "--out", str(tmp_path), "--json"], capture_output=True, text=True)
    assert again.returncode == 0 and json.loads(again.stdout)["problems_run_now"] == 0
    assert len((tmp_path / "records.jsonl").read_text().splitlines()) == 2


def test_a_models_identity_is_what_loading_reads_not_its_card(tmp_path):
    import shutil

    from ponder.eval.records import file_hashes
    from ponder.models import resolve

    folder = shutil.copytree(resolve("ponder-arith"), tmp_path / "model")
    before = file_hashes(folder)
    assert "model.safetensors" in before and "card.md" not in before
    (folder / "card.md").write_text("a card rewritten")
    assert file_hashes(folder) == before
    (folder / "generation_config.json").write_text("{}")
    assert file_hashes(folder) != before
