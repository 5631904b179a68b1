"""What a token costs at one sample: the target's engine against the draft's (greedy, 128 tokens from each of 8
short prompts, EOS ignored), alternated four rounds; prints the median ms a token and the draft's share of the
target's (c in the speculative-decoding bound of docs/benchmarks.md).

Usage: python docs/measure/draft_cost.py [TARGET DRAFT]
"""
import sys
import time

from ponder.bench.engine import _load, _prompts
from ponder.engine import LLMEngine, SamplingParams

names = sys.argv[1:3] or ["ponder-arith", "ponder-arith-draft"]
tokenizer, target = _load(names[0], "cpu", None, 1024)
_, draft = _load(names[1], "cpu", None, 1024)
prompts = _prompts(tokenizer, "short", 8)
params = SamplingParams(temperature=0.0, max_tokens=128, ignore_eos=True)
engines = {name: LLMEngine(model, tokenizer, seed=0, prefix_cache_bytes=0)
           for name, model in zip(names, (target, draft))}
for engine in engines.values():
    engine.generate(prompts[:1], params)  # warm-up
times = {name: [] for name in engines}
for _ in range(4):
    for name, engine in engines.items():
        start = time.perf_counter()
        for prompt in prompts:
            engine.generate([prompt], params)
        times[name].append((time.perf_counter() - start) / (len(prompts) * 128) * 1000)
median = {name: sorted(t)[len(t) // 2] for name, t in times.items()}
print({name: f"{ms:.2f} ms/token" for name, ms in median.items()}, f"c = {median[names[1]] / median[names[0]]:.2f}")
