"""`ponder bench strategies --backend URL`: adaptive-vote against plain n=32 sampling through a server, here a
second ponder serve: both strategies answer, and early abort saves tokens on the client's count and on the
server's own (its /metrics)."""

import json
import subprocess
import sys

from conftest import serve


def test_early_abort_saves_tokens_on_the_server():
    for url in serve():
        proc = subprocess.run([sys.executable, "-m", "ponder.cli", "bench", "strategies", "--backend", url,
                               "--limit", "12", "--json"], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        figures = json.loads(proc.stdout)
        vote, adaptive = figures["vote"], figures["adaptive-vote"]
        assert vote["samples_per_problem"] == 32 and adaptive["samples_per_problem"] <= 32
        for spent in (vote, adaptive):  # the server counts what it made, aborted samples' tokens too
            assert spent["server_generated_tokens_per_problem"] >= spent["generated_tokens_per_problem"] > 0
        assert figures["tokens_saved"] > 0.3 and figures["server_tokens_saved"] > 0.3
        assert adaptive["accuracy"] >= vote["accuracy"] - 0.34  # at most four of twelve problems apart
