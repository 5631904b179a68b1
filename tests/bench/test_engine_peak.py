"""`ponder bench engine` reports the machine's fp32 matmul peak, measured in the same run, and the n=64 case's
share of it (issue #20's `peak_gflops` / `peak_fraction`)."""

import json
import subprocess
import sys


def test_bench_engine_reports_the_matmul_peak_and_the_fraction_the_n64_case_reaches():
    proc = subprocess.run([sys.executable, "-m", "ponder.cli", "bench", "engine", "--case", "short", "--json"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout)
    short = figures["cases"]["short"]["ponder"]
    assert figures["gflops"] == short["gflops"] > 0
    assert figures["peak_gflops"] > figures["gflops"]  # a decode step of a tiny model is far from dense matmul
    assert figures["peak_fraction"] == round(figures["gflops"] / figures["peak_gflops"], 4)
    assert 0 < figures["peak_fraction"] < 1
