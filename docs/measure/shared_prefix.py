"""One decode forward of the lean path at 64 rows, with the prompt's columns attended as shared (kv_cache.Shared)
and without, alternated in one process (the machine's speed drifts); prints the largest difference in the
logits and the median times.

Usage: python docs/measure/shared_prefix.py PROMPT_COLUMNS GENERATED_COLUMNS   (e.g. 84 64, 600 64)
"""
import sys
import time

import torch

from ponder.bench.engine import _load
from ponder.engine.kv_cache import Shared
from ponder.engine.lean import LeanModel

_, model = _load("ponder-arith", "cpu", None, 1024)
lean = LeanModel.of(model)
config = model.config
rows, prompt, generated = 64, int(sys.argv[1]), int(sys.argv[2])
length = prompt + generated
shape = (rows, config.num_key_value_heads, length + 64, config.head_dim)
storage = [(torch.randn(shape), torch.randn(shape)) for _ in range(config.num_hidden_layers)]
for keys, values in storage:  # the prompt's columns alike in every row, as a request's samples hold them
    keys[:, :, :prompt] = keys[0, :, :prompt]
    values[:, :, :prompt] = values[0, :, :prompt]
mask = torch.ones(rows, length + 1, dtype=torch.long)
ids, positions = torch.randint(0, config.vocab_size, (rows, 1)), torch.full((rows, 1), length)
shared = (Shared(tuple(range(rows)), 0, prompt),)
times = {"without": [], "with": []}
with torch.inference_mode():
    a, b = (lean(ids, positions, mask, storage, length, 0, s) for s in ((), shared))
    print(f"largest logit difference {(a - b).abs().max().item():.2e}")
    for _ in range(30):
        for name, s in (("without", ()), ("with", shared)):
            start = time.perf_counter()
            lean(ids, positions, mask, storage, length, 0, s)
            times[name].append(time.perf_counter() - start)
print({name: f"{sorted(t)[len(t) // 2] * 1000:.1f} ms" for name, t in times.items()})
