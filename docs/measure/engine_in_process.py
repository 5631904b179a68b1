"""ponder's engine in-process on `ponder bench engine --peer`'s workload (no HTTP, no server): 64 samples of one
arith prompt, and 16 prompts with 4 samples each, 128 tokens a sample, the end of sequence ignored, T=0.7;
the median of three timed runs after a warm-up. docs/benchmarks.md compares it with the same work through
`ponder serve`."""

import statistics
import time

from ponder.engine import LLMEngine, SamplingParams
from ponder.models import resolve
from ponder.tasks import arith

engine = LLMEngine.from_pretrained(resolve("ponder-arith"))
prompts = [engine.tokenizer.apply_chat_template(p.prompt(), add_generation_prompt=True, tokenize=False)
           for p in arith.problems(7, 16)]
for case, work, n in (("n64", prompts[:1], 64), ("concurrent", prompts, 4)):
    params = SamplingParams(n=n, temperature=0.7, max_tokens=128, ignore_eos=True)
    engine.generate(work, params)  # warm-up
    rates = []
    for _ in range(3):
        started = time.perf_counter()
        outputs = engine.generate(work, params)
        rates.append(sum(len(s.token_ids) for out in outputs for s in out.samples) / (time.perf_counter() - started))
    print(f"{case}: {statistics.median(rates):,.0f} tok/s")
