"""`ponder bench llamacpp`: ponder's OpenAI backend against llama.cpp's server (llama-cpp-python) on the model
exported with `ponder export gguf`.

Two parts, one run:
- greedy: every problem answered greedily by ponder's local engine and, over HTTP, by llama.cpp; the answers (and
  the texts) must be the same, since it is the same model. The wall time of each side is reported, for scale
  only (llama.cpp's server answers one request at a time; `ponder bench engine --peer llamacpp` is the
  throughput comparison).
- strategies: every strategy through the OpenAI backend on llama.cpp (spec-reason: the local draft writes,
  llama.cpp scores its steps by echo), with its accuracy and tokens.
"""

from __future__ import annotations

import asyncio
import time

from ponder.bench import peers

GREEDY_TOKENS = 256


def run(model: str = "ponder-arith", problems: int = 200, strategy_problems: int = 10, budget: int = 4,
        seed: int = 0, install: bool = False, progress=None) -> dict:
    from ponder.backends.base import SamplingParams
    from ponder.runtime import Choice, Runtime
    from ponder.strategies import STRATEGIES, StrategyConfig
    from ponder.tasks import arith

    python = peers.find("llamacpp", install=install, progress=progress)
    say = progress or (lambda text: None)
    # the strategies of a model that does not think (ponder-arith), which llama.cpp serves
    # (auto, which chooses among them, needs a policy fitted for the model: ponder tune)
    modelled = sorted(name for name, entry in STRATEGIES.items() if entry.model and not entry.thinking
                      and not entry.chooses)
    with Runtime(Choice(model=model, seed=seed), ["single"]) as local, \
            peers.serve("llamacpp", python, model, context=local.generator.context) as (url, _):
        # through llama.cpp: the target over HTTP, with the draft (spec-reason's step writer) and arith-steps here
        remote = Runtime(Choice(backend=url, model=model, draft="ponder-arith-draft", verifier="arith-steps",
                                seed=seed), modelled)
        remote.generator.extra_body = peers.PEERS["llamacpp"].neutral
        try:
            greedy_config = StrategyConfig(budget=1, sampling=SamplingParams(temperature=0,
                                                                             max_tokens=GREEDY_TOKENS))
            tasks = arith.problems(seed, problems)
            say(f"greedy: {problems} problems on ponder's engine, then on llama.cpp")
            ours, ours_s = _timed(_all(local, "single", tasks, greedy_config))
            theirs, theirs_s = _timed(_all(remote, "single", tasks, greedy_config))
            texts = [(a.candidates[0].text, b.candidates[0].text) for a, b in zip(ours, theirs)]
            differ = [p.id for p, a, b in zip(tasks, ours, theirs) if a.answer != b.answer]
            greedy = {
                "problems": problems,
                "answers_equal": problems - len(differ),
                "texts_equal": sum(a == b for a, b in texts),
                "answers_differ": differ[:20],
                "accuracy": {"ponder": _accuracy(tasks, ours), "llamacpp": _accuracy(tasks, theirs)},
                "generated_tokens": {"ponder": sum(r.tokens["generated"] for r in ours),
                                     "llamacpp": sum(r.tokens["generated"] for r in theirs)},
                "wall_s": {"ponder": round(ours_s, 2), "llamacpp": round(theirs_s, 2)},
            }
            strategies = {}
            for name in modelled:
                say(f"strategies: {name}@{budget} on {strategy_problems} problems through llama.cpp")
                strategies[name] = _strategy(remote, name, arith.problems(seed + 1, strategy_problems), budget)
        finally:
            remote.close()
    return {"peer": peers.describe("llamacpp", python), "model": model,
            "gguf": "f32", "greedy": greedy, "strategies": strategies}


def _strategy(runtime, name: str, tasks, budget: int) -> dict:
    from ponder.backends.base import SamplingParams
    from ponder.strategies import StrategyConfig

    config = StrategyConfig(budget=budget, sampling=SamplingParams(temperature=0.7, seed=1))
    results, wall = _timed(_all(runtime, name, tasks, config))
    return {"accuracy": _accuracy(tasks, results), "samples_per_problem": sum(r.samples for r in results) / len(tasks),
            "generated_tokens_per_problem": round(sum(r.tokens["generated"] for r in results) / len(tasks), 1),
            "wall_s": round(wall, 2)}


async def _all(runtime, strategy: str, tasks, config):
    return await asyncio.gather(*(runtime.solve(p, strategy, config) for p in tasks))


def _timed(coroutine):
    started = time.perf_counter()
    result = asyncio.run(coroutine)
    return result, time.perf_counter() - started


def _accuracy(tasks, results) -> float:
    return round(sum(r.answer == p.answer for p, r in zip(tasks, results)) / len(tasks), 4)
