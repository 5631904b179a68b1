"""`ponder bench engine`'s join case: a long prompt joins a batch that is decoding, and the decoding rows' gaps
between tokens are measured, with chunked prefill (the engine's default) and with every prompt computed whole.

64 rows decode 128 tokens from one short prompt (T=0.7, EOS ignored); at their 16th step a prompt of
`prompt_tokens` tokens arrives (one sample, 16 tokens). Prefilled whole, it stalls every row for a whole prefill;
chunked, it is computed `prefill_chunk` tokens a step beside the decode. Each row emits one token a step, so a
row's gap between tokens is the step's wall time. The two engines share one process and one model, alternate
round by round (this machine's speed drifts), and clear their prefix caches before each round so the long prompt
is computed every time; each reports the median and the 99th percentile of its rows' gaps over all rounds, their
ratio, the longest gap of a round (the median over rounds: the stall where the prompt joins), and the long
prompt's time to its first token (what chunking costs it).
"""

from __future__ import annotations

import time

JOIN_AT = 16  # the decode step at which the long prompt arrives


def measure(model: str, device: str, threads: int | None, prompt_tokens: int = 400, rounds: int = 4,
            chunk: int | None = None) -> dict:
    """The figures of both engines; `chunk`: the chunked side's prefill_chunk (None: the engine's default)."""
    import numpy as np

    from ponder.bench.engine import NEW_TOKENS, _load, _prompts, _sync
    from ponder.engine import LLMEngine, SamplingParams
    from ponder.engine.engine import PREFILL_CHUNK

    tokenizer, target = _load(model, device, threads, positions=prompt_tokens + 64)
    short, long = _prompts(tokenizer, "short")[0], _prompts(tokenizer, "long", long_tokens=prompt_tokens)[0]
    decode = SamplingParams(n=64, temperature=0.7, max_tokens=NEW_TOKENS, ignore_eos=True)
    joining = SamplingParams(n=1, temperature=0.7, max_tokens=16, ignore_eos=True)
    chunk = chunk or PREFILL_CHUNK
    engines = {"ponder": LLMEngine(target, tokenizer, seed=0, prefill_chunk=chunk),
               "whole": LLMEngine(target, tokenizer, seed=0, prefill_chunk=None)}
    sync = _sync(device)

    def one_round(engine) -> tuple[list[float], float]:
        engine.runner.prefix_cache.clear()
        rows = engine.add_request(short, decode)
        gaps, last, arrived, first_token, step = [], None, None, None, 0
        while engine.has_unfinished():
            if step == JOIN_AT:
                late = engine.add_request(long, joining)
                arrived = time.perf_counter()
            events = engine.step()
            sync()
            now = time.perf_counter()
            if any(e.request_id == rows and e.token_ids for e in events):
                if last is not None:
                    gaps.append(now - last)
                last = now
            if arrived is not None and first_token is None and any(e.request_id == late for e in events):
                first_token = now - arrived
            step += 1
        return gaps, first_token

    for engine in engines.values():  # warm-up
        one_round(engine)
    gaps = {side: [] for side in engines}
    first = {side: [] for side in engines}
    worst = {side: [] for side in engines}
    for r in range(rounds):
        for side in (list(engines) if r % 2 == 0 else list(engines)[::-1]):
            g, f = one_round(engines[side])
            gaps[side] += g
            first[side].append(f)
            worst[side].append(max(g))
    figures = {}
    for side in engines:
        p50, p99 = np.percentile(np.array(gaps[side]) * 1e3, [50, 99])
        figures[side] = {"gap_p50_ms": round(float(p50), 2), "gap_p99_ms": round(float(p99), 2),
                         "p99_over_p50": round(float(p99 / p50), 2),
                         "gap_max_ms": round(float(np.median(worst[side])) * 1e3, 1),
                         "first_token_ms": round(float(np.median(first[side])) * 1e3, 1), "gaps": len(gaps[side])}
    figures["ponder"]["prefill_chunk"] = chunk
    figures["prompt_tokens"] = len(tokenizer.encode(long, add_special_tokens=False))
    figures["p99_over_p50"] = figures["ponder"]["p99_over_p50"]
    return figures
