"""How many tokens short-vote's aborted samples decode past the moment they should stop (docs/thinking.md).

    python docs/measure/abort_lag.py

short-m@32 on ponder-arith-think: when the m-th sample ends its thinking (its end marker written, after `stop`
reasoning tokens) the other 32 - m samples are aborted. Decoding in step, each would have made exactly `stop` + 1
tokens (its own token of that step included); the excess over that, per aborted sample, is the abort's lag.
Measured with the problems run one at a time and all at once: 8 problems, whose 256 samples fill the engine's 256
rows, so that none waits to join (one that joins later has made fewer tokens when the race ends). Since the
engine decides the race itself (SamplingParams.keep_first) it is 0; when short-vote aborted from its own loop, it
was 1 to 2 tokens one at a time and 7 to 8 with 24 problems at once.
"""

from __future__ import annotations

import argparse
import asyncio

from ponder.backends.local import LocalGenerator
from ponder.strategies import STRATEGIES, StrategyConfig
from ponder.tasks import arith


async def one(generator, problem, config) -> tuple[int, int]:
    result = await STRATEGIES["short-vote"](problem, generator, None, config)
    stop = max(c.reasoning_tokens for c in result.candidates)
    ideal = sum(c.tokens for c in result.candidates) + (config.budget - len(result.candidates)) * (stop + 1)
    return result.tokens["generated"], ideal


async def main(args) -> None:
    problems = arith.problems(args.seed, args.limit)
    generator = LocalGenerator(args.model, seed=args.seed)
    config = StrategyConfig(budget=args.budget, options={"m": args.m})
    aborted = (args.budget - args.m) * len(problems)
    one_by_one = [await one(generator, p, config) for p in problems]
    at_once = await asyncio.gather(*(one(generator, p, config) for p in problems))
    for label, spent in (("one at a time", one_by_one), ("all at once", at_once)):
        generated, ideal = sum(g for g, _ in spent), sum(i for _, i in spent)
        print(f"{label}: {generated:,} tokens generated, {ideal:,} in step; "
              f"{(generated - ideal) / aborted:.2f} tokens past the stop per aborted sample")
    generator.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ponder-arith-think")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--limit", type=int, default=8)
    parser.add_argument("--budget", type=int, default=32)
    parser.add_argument("--m", type=int, default=8)
    asyncio.run(main(parser.parse_args()))
