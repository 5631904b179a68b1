"""`ponder bench strategies --backend URL` (or `--peer vllm|llamacpp`, started here): adaptive-vote against plain
sampling of n=32 with a majority vote, through an OpenAI-compatible server that ponder did not write. The tokens
adaptive-vote saves are its early abort: it closes the streams of the samples it no longer needs.

Tokens are counted twice: by the client (what the streams carried before they were closed) and, where the
server exports them, by the server (`vllm:generation_tokens_total`, or ponder serve's
`ponder_engine_tokens_generated_total`): what it computed, including what it made after a stream was closed and
before it noticed.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import urllib.request

from ponder.bench import peers

COUNTERS = (r"^vllm:generation_tokens_total(?:\{[^}]*\})? ([0-9.e+]+)$",
            r"^ponder_engine_tokens_generated_total ([0-9.e+]+)$")


def run(backend: str | None = None, peer: str | None = None, model: str = "ponder-arith", problems: int = 50,
        budget: int = 32, seed: int = 0, install: bool = False, progress=None) -> dict:
    from ponder.backends.base import SamplingParams
    from ponder.backends.openai import OpenAIGenerator
    from ponder.strategies import STRATEGIES, StrategyConfig
    from ponder.tasks import arith

    say = progress or (lambda text: None)
    if peer is not None:
        python = peers.find(peer, install=install, progress=progress)
        server = peers.serve(peer, python, model, peers.context_length(model))
        extra = peers.PEERS[peer].neutral
    else:
        server, extra = contextlib.nullcontext((backend.rstrip("/").removesuffix("/v1"), None)), None
    tasks = arith.problems(seed, problems)
    figures: dict = {"backend": backend or peer, "model": model, "problems": problems, "budget": budget}
    with server as (url, _):
        generator = OpenAIGenerator(f"{url}/v1", model, chat_template=model, extra_body=extra)
        for name in ("vote", "adaptive-vote"):
            say(f"{name}@{budget} on {problems} problems through {url}")
            config = StrategyConfig(budget=budget, sampling=SamplingParams(temperature=0.7, seed=seed))
            before = _server_tokens(url)
            started = time.perf_counter()

            async def all_problems():
                return await asyncio.gather(*(STRATEGIES[name](p, generator, None, config) for p in tasks))
            results = asyncio.run(all_problems())
            wall = time.perf_counter() - started
            time.sleep(1.0)  # a closed stream is noticed and aborted by the server a moment later
            after = _server_tokens(url)
            spent = None if before is None or after is None else round((after - before) / problems, 1)
            figures[name] = {
                "accuracy": round(sum(r.answer == p.answer for p, r in zip(tasks, results)) / problems, 4),
                "samples_per_problem": round(sum(r.samples for r in results) / problems, 2),
                "generated_tokens_per_problem": round(sum(r.tokens["generated"] for r in results) / problems, 1),
                "server_generated_tokens_per_problem": spent,
                "wall_s": round(wall, 2),
            }
    vote, adaptive = figures["vote"], figures["adaptive-vote"]
    figures["tokens_saved"] = round(1 - adaptive["generated_tokens_per_problem"]
                                    / vote["generated_tokens_per_problem"], 4)
    if vote["server_generated_tokens_per_problem"]:
        figures["server_tokens_saved"] = round(1 - adaptive["server_generated_tokens_per_problem"]
                                               / vote["server_generated_tokens_per_problem"], 4)
    figures["time_saved"] = round(1 - adaptive["wall_s"] / vote["wall_s"], 4)
    return figures


def _server_tokens(url: str) -> float | None:
    """The generated tokens a server has counted, from its Prometheus /metrics (None: it exports none)."""
    try:
        text = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
    except OSError:
        return None
    for pattern in COUNTERS:
        found = re.findall(pattern, text, re.MULTILINE)
        if found:
            return sum(float(value) for value in found)
    return None
