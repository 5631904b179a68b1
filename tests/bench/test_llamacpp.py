"""`ponder bench llamacpp`: llama.cpp's server on the exported GGUF answers greedily exactly as ponder's engine does,
and every strategy runs through it over HTTP. Skipped, saying so, where the peer is not installed (it installs
with `ponder bench llamacpp --install`, a 20-minute source build)."""

import json
import os
import subprocess
import sys

import pytest

from ponder.bench import peers


def test_a_missing_peer_skips_the_benchmark_saying_so(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ponder.cli", "bench", "llamacpp", "--json"], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PONDER_PEERS_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    skipped = json.loads(proc.stdout)["skipped"]
    assert "llama-cpp-python[server]" in skipped and "--install" in skipped and str(tmp_path) in skipped


def bench(*args, timeout: int) -> dict:
    """`ponder bench ARGS --json` where llama.cpp is installed (the test is skipped, saying why, where not)."""
    try:
        peers.find("llamacpp")
    except peers.PeerMissing as missing:
        pytest.skip(str(missing))
    proc = subprocess.run([sys.executable, "-m", "ponder.cli", "bench", *args, "--json"], capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_llamacpp_answers_as_ponder_does():
    figures = bench("llamacpp", "--limit", "40", timeout=600)
    greedy = figures["greedy"]
    assert greedy["answers_equal"] == greedy["texts_equal"] == 40, greedy["answers_differ"]
    assert greedy["accuracy"]["ponder"] == greedy["accuracy"]["llamacpp"] > 0.5
    assert set(figures["strategies"]) == {"adaptive-vote", "beam", "best-of-n", "deepconf", "first-finish",
                                          "particle", "short-vote", "single", "spec-reason", "vote", "weighted-vote"}
    for name, result in figures["strategies"].items():
        assert result["generated_tokens_per_problem"] > 0, name
    assert figures["strategies"]["vote"]["accuracy"] >= 0.5  # the samples are the model's, not noise


def test_the_engine_against_llamacpp_on_one_workload():
    figures = bench("engine", "--peer", "llamacpp", "--new-tokens", "16", timeout=900)  # short: a test, not a figure
    assert figures["peer"].startswith("llama-cpp-python 0.3")
    for case in ("n64", "concurrent"):  # every sample ran its 16 tokens, on both sides (llama.cpp may run on
        sides = figures["cases"][case]  # a token or two to finish a UTF-8 character)
        assert sides["ponder"]["tokens_per_run"] == 64 * 16 <= sides["llamacpp"]["tokens_per_run"] <= 64 * 16 * 1.01
        assert figures["ratio"][case] > 0
