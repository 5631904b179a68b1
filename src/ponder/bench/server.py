"""`ponder bench server`: a real `ponder serve` under load from the official openai client.

`requests` chat completions (default 1,000, model `vote@4/ponder-arith`, arith questions) from `clients`
concurrent clients (default 64): every status counted (a 5xx or a lost request is a failure), latency p50/p99,
requests and generated tokens per second, and the server's resident memory before the run and after it, read
from /proc. The warm-up asks every question once, so the engine's prefix cache (bounded, 256 MB by default)
already holds the prompts the run will send: memory that grows after it is not the cache filling.

With `deadline`, every request carries it (`ponder.deadline`, seconds) and the figures add how far past it the
answers arrive: the run's own overshoot (its wall time in the reply's report, from the moment it started, less
the deadline) and the client's (its latency less the deadline: queueing and HTTP too), p50 and p99, with how many
runs the deadline stopped.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np

from ponder.bench import peers


def run(requests: int = 1000, clients: int = 64, model: str = "vote@4/ponder-arith", deadline: float | None = None,
        progress=None) -> dict:
    from openai import APIStatusError, AsyncOpenAI

    from ponder.tasks import arith

    questions = [p.question for p in arith.problems(3, 200)]
    served = model.rpartition("/")[2]  # [STRATEGY[@BUDGET]/]MODEL: the model the server loads
    with peers.ponder_serve("--model", served, "--max-queue", str(requests)) as (url, server):
        client = AsyncOpenAI(base_url=f"{url}/v1", api_key="-", max_retries=0, timeout=600)

        runs = []  # with a deadline: each answered run's (wall_s, stop_reason), from its report

        async def one(i: int) -> tuple[int, float, int]:
            started = time.perf_counter()
            try:
                reply = await client.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": questions[i % len(questions)]}],
                    extra_body={"ponder": {"deadline": deadline}} if deadline is not None else None)
                runs.extend((r["wall_s"], r["stop_reason"]) for r in reply.model_extra["ponder"].get("runs", []))
                return 200, time.perf_counter() - started, reply.usage.completion_tokens
            except APIStatusError as error:
                return error.status_code, time.perf_counter() - started, 0

        async def load(count: int) -> list[tuple[int, float, int]]:
            gate = asyncio.Semaphore(clients)
            done = []

            async def client_request(i):
                async with gate:
                    done.append(await one(i))
                    if progress and len(done) % 100 == 0:
                        progress(f"{len(done)}/{count} requests")
            await asyncio.gather(*(client_request(i) for i in range(count)))
            return done

        async def measure():
            # warm-up: every question the run will ask, once, so the prefix cache holds what it will hold
            await load(min(requests, len(questions)))
            before = _rss_mb(server.pid)
            runs.clear()
            started = time.perf_counter()
            outcomes = await load(requests)
            wall = time.perf_counter() - started
            await asyncio.sleep(1.0)
            return outcomes, wall, before, _rss_mb(server.pid)

        outcomes, wall, memory_before, memory_after = asyncio.run(measure())
    statuses: dict[str, int] = {}
    for status, _, _ in outcomes:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    latencies = np.array([seconds for status, seconds, _ in outcomes if status == 200])
    overshoot = {}
    if deadline is not None and runs:
        run_over = np.array([wall for wall, _ in runs]) - deadline
        overshoot = {"deadline_s": deadline, "stopped_by_deadline": sum(r == "deadline" for _, r in runs),
                     "runs": len(runs),
                     "run_overshoot_p50_s": round(float(np.percentile(run_over, 50)), 4),
                     "run_overshoot_p99_s": round(float(np.percentile(run_over, 99)), 4),
                     "client_overshoot_p50_s": round(float(np.percentile(latencies - deadline, 50)), 4),
                     "client_overshoot_p99_s": round(float(np.percentile(latencies - deadline, 99)), 4)}
    return {
        "model": model, "requests": requests, "clients": clients,
        "answered": len(outcomes), "lost": requests - len(outcomes), "statuses": statuses,
        "server_errors": sum(n for s, n in statuses.items() if s.startswith("5")),
        "latency_p50_s": round(float(np.percentile(latencies, 50)), 3) if len(latencies) else None,
        "latency_p99_s": round(float(np.percentile(latencies, 99)), 3) if len(latencies) else None,
        "requests_per_s": round(len(outcomes) / wall, 2),
        "generated_tokens_per_s": round(sum(tokens for _, _, tokens in outcomes) / wall, 1),
        "wall_s": round(wall, 2),
        "server_memory_mb_before": memory_before, "server_memory_mb_after": memory_after,
        "memory_change": round(memory_after / memory_before - 1, 4),
        **overshoot,
    }


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmRSS for process {pid}")
