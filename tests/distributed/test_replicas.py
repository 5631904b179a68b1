"""Replica pools on a local Ray cluster, driven as a user would: `ponder eval --replicas N` gives what one engine
gives with the same seeds, a replica SIGKILLed mid-run loses and duplicates no record, and `ponder serve
--replicas N` answers through its replicas."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import serve

pytest.importorskip("ray")

RUN = ["eval", "--task", "arith", "--seed", "7", "--limit", "24", "--strategy", "vote", "--budget", "4",
       "--temperature", "0.7", "--json"]


def ponder(*args):
    return subprocess.Popen([sys.executable, "-m", "ponder.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def replica_pids(root: int) -> list[int]:
    """The Ray replica processes under process `root` (its local cluster's raylet starts them)."""
    table = [line.split(None, 2) for line in subprocess.run(["ps", "-eo", "pid=,ppid=,args="], capture_output=True,
                                                             text=True).stdout.splitlines()]
    children: dict[int, list[int]] = {}
    for pid, ppid, *_ in table:
        children.setdefault(int(ppid), []).append(int(pid))
    below, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            below.add(child)
            todo.append(child)
    return [int(pid) for pid, _, *args in table if int(pid) in below and args and args[0].startswith("ray::Replica")]


def records(folder) -> list[dict]:
    path = folder / "records.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.slow
def test_replicas_answer_as_one_engine_and_survive_a_killed_replica(tmp_path):
    one = ponder(*RUN, "--out", str(tmp_path / "one"))
    out, err = one.communicate(timeout=300)
    assert one.returncode == 0, err
    alone = json.loads(out)

    run = ponder(*RUN, "--replicas", "2", "--out", str(tmp_path / "two"))
    deadline = time.monotonic() + 300
    while not records(tmp_path / "two") and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # the replicas are up and the first record is written: the rest are in flight
    pids = replica_pids(run.pid)
    assert len(pids) == 2 and run.poll() is None, run.stderr.read() if run.poll() is not None else pids
    os.kill(pids[0], signal.SIGKILL)
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, err
    pooled = json.loads(out)
    assert "1 of 2 replicas died" in err  # and what it held ran again on the other

    keys = [r["key"] for r in records(tmp_path / "two")]
    assert len(keys) == len(set(keys)) == 24  # every record, exactly once
    assert pooled["replicas"] == 2 and pooled["n_problems"] == 24
    # the same seeds give the same samples on whichever replica a problem ran, retried or not
    same = ("accuracy", "samples_per_problem", "tokens_generated_per_problem")
    assert {k: pooled[k] for k in same} == {k: alone[k] for k in same}
    by_key = {r["key"]: r for r in records(tmp_path / "one")}
    assert all(r["answer"] == by_key[r["key"]]["answer"] for r in records(tmp_path / "two"))
    assert not any(os.path.exists(f"/proc/{pid}") for pid in pids[1:])  # the pool is gone with the run


def test_serve_dispatches_requests_to_its_replicas():
    import openai

    for url in serve("--replicas", "2"):
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="-")
        question = [{"role": "user", "content": "Mia has 23 pens. She buys 15 more. How many pens does she have now?"}]
        replies = [client.chat.completions.create(model="vote@4/ponder-arith", messages=question, seed=i)
                   for i in range(4)]
        assert all(r.model_extra["ponder"]["runs"][0]["answer"] == "38" for r in replies)
        assert all(r.model_extra["ponder"]["runs"][0]["samples"] == 4 for r in replies)
        chunks = list(client.chat.completions.create(model="ponder-arith", messages=question, stream=True, n=2,
                                                     temperature=0, stream_options={"include_usage": True}))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices and c.choices[0].index == 0)
        assert text.endswith("Answer: 38") and chunks[-1].usage.completion_tokens > 10  # streamed from a replica
        prompt = f"<s><|user|>{question[0]['content']}<|assistant|>23+15=38"  # scored by a replica
        scored = client.completions.create(model="ponder-arith", prompt=prompt, echo=True, logprobs=0, max_tokens=0)
        assert "".join(scored.choices[0].logprobs.tokens) == prompt
        assert scored.choices[0].logprobs.token_logprobs[-1] > -1  # the likeliest next digit
        metrics = __import__("urllib.request").request.urlopen(f"{url}/metrics").read().decode()
        assert "ponder_engine_active_rows 0.0" in metrics  # summed over the replicas
