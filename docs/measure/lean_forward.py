"""The lean forward pass (engine/lean.py) against transformers' own, in one process, alternated run by run (the
machine's speed drifts): the n=64 x 128 case of `ponder bench engine` (one short prompt, T=0.7), each engine
timed whole and by part (forward, postprocess), and one decode step's forward alone at 64 rows.

Usage: python docs/measure/lean_forward.py [--device cpu|cuda] [--model ponder-arith] [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict

import torch

from ponder.bench.engine import NEW_TOKENS, _load, _prompts, _sync
from ponder.engine import LLMEngine, SamplingParams
from ponder.engine.kv_cache import KV


def timed(parts: dict, key: str, obj, name: str, sync) -> None:
    """Wrap obj.name so its seconds add up in parts[key]."""
    inner = getattr(obj, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        out = inner(*args, **kwargs)
        sync()
        parts[key] += time.perf_counter() - start
        return out
    setattr(obj, name, wrapper)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default="ponder-arith")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    sync = _sync(args.device)
    tokenizer, model = _load(args.model, args.device, None, positions=0)
    engines = {side: LLMEngine(model, tokenizer, seed=0, lean=side == "lean") for side in ("transformers", "lean")}
    parts = {side: defaultdict(float) for side in engines}
    for side, engine in engines.items():
        timed(parts[side], "forward", engine.runner, "forward", sync)
        timed(parts[side], "postprocess", engine, "postprocess", sync)
    params = SamplingParams(n=64, temperature=0.7, max_tokens=NEW_TOKENS, ignore_eos=True)
    prompts = _prompts(tokenizer, "short")
    for engine in engines.values():  # warm-up
        engine.generate(prompts, params)
    for side in parts:
        parts[side].clear()
    whole = {side: [] for side in engines}
    for _ in range(args.runs):
        for side, engine in engines.items():
            start = time.perf_counter()
            engine.generate(prompts, params)
            sync()
            whole[side].append(time.perf_counter() - start)

    # one decode step's forward alone: 64 rows after a 148-token KV (the case's mean length)
    rows, length = 64, 148
    ids = torch.randint(4, tokenizer.vocab_size, (rows, length), device=args.device)
    positions = torch.arange(length, device=args.device).expand(rows, length)
    step = {}
    with torch.inference_mode():
        for side, engine in engines.items():
            kv = engine.runner.empty(rows)
            kv, _ = kv.forward(engine.runner.net, torch.ones(rows, length, dtype=torch.long, device=args.device),
                               input_ids=ids, position_ids=positions)
            mask = torch.ones(rows, length + 1, dtype=torch.long, device=args.device)
            inputs = dict(input_ids=ids[:, -1:], position_ids=positions[:, -1:] + 1)
            times = []
            for i in range(60):
                start = time.perf_counter()
                KV.forward(kv, engine.runner.net, mask, **inputs)
                sync()
                if i >= 10:
                    times.append(time.perf_counter() - start)
            step[side] = statistics.median(times)
    steps = NEW_TOKENS * args.runs
    print(f"{args.model} on {args.device}, n=64 x {NEW_TOKENS} from one short prompt, {args.runs} runs each, "
          "alternated")
    for side in engines:
        median = statistics.median(whole[side])
        print(f"  {side:12s} {64 * NEW_TOKENS / median:8.0f} tok/s   {median / NEW_TOKENS * 1e3:6.2f} ms a step "
              f"(forward {parts[side]['forward'] / steps * 1e3:.2f}, postprocess "
              f"{parts[side]['postprocess'] / steps * 1e3:.2f})   one decode forward at 64 rows x {length}: "
              f"{step[side] * 1e3:.2f} ms")
    print(f"  lean / transformers: {statistics.median(whole['transformers']) / statistics.median(whole['lean']):.2f}x "
          f"whole, {step['transformers'] / step['lean']:.2f}x one decode forward")


if __name__ == "__main__":
    main()
