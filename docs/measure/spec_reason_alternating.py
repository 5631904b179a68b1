"""spec-reason against the target alone and the draft alone, one problem at a time, the three alternated problem by
problem (the machine's speed drifts), prefix caches cleared before each; the first 5 problems warm up.

Usage: python docs/measure/spec_reason_alternating.py DEVICE PROBLEMS [DRAFT]   (e.g. cpu 60, cuda 60)
"""
import asyncio, time, sys, collections
from ponder import tasks
from ponder.backends.local import LocalGenerator
from ponder.strategies import STRATEGIES, StrategyConfig
from ponder.sampling import SamplingParams
dev = sys.argv[1]
target = LocalGenerator("ponder-arith", seed=1, device=dev); draft = LocalGenerator(sys.argv[3] if len(sys.argv) > 3 else "ponder-arith-draft", seed=1, device=dev)
problems = tasks.load("arith", 1, int(sys.argv[2]))
cfg = StrategyConfig(budget=32, sampling=SamplingParams(temperature=0.5, max_tokens=256), draft=draft)
T = collections.defaultdict(float); A = collections.Counter()
async def main():
    for p in problems[:5]:  # warm-up
        await STRATEGIES["spec-reason"](p, target, None, cfg); await STRATEGIES["single"](p, target, None, cfg)
    T.clear(); A.clear()
    for p in problems:
        for name, gen in (("target", target), ("draft", draft), ("spec", target), ("target2", target)):
            target.engine.engine.runner.prefix_cache.clear(); draft.engine.engine.runner.prefix_cache.clear()
            t = time.perf_counter()
            r = await STRATEGIES["spec-reason" if name == "spec" else "single"](p, gen, None, cfg)
            T[name] += time.perf_counter() - t
            A[name] += r.answer == p.answer
asyncio.run(main())
n = len(problems)
for k in T: print(k, f"{T[k]/n*1000:.1f} ms/problem acc {A[k]/n:.3f}")
print("target/spec", round((T["target"] + T["target2"]) / 2 / T["spec"], 3), "target/draft", round((T["target"] + T["target2"]) / 2 / T["draft"], 3))
