"""The live view of `ponder solve`: it sees every sample of every stream a strategy opens."""

import asyncio

from ponder.live import Watched
from ponder.strategies import STRATEGIES, StrategyConfig
from ponder.tasks import arith


def test_the_live_view_follows_every_sample_and_passes_the_strategy_through(target):
    problem = arith.problems(2, 1)[0]
    watched = Watched(target, problem.extract, "vote@6")
    prompt_before = target.usage.prompt
    with watched:
        result = asyncio.run(STRATEGIES["adaptive-vote"](problem, watched, None, StrategyConfig(budget=6)))
    assert result.tokens["prompt"] == target.usage.prompt - prompt_before > 0  # watched, its tokens count the same
    assert len(watched.samples) == result.samples
    assert sum(row["tokens"] for row in watched.samples) == result.tokens["generated"]
    finished = [row for row in watched.samples if row["state"] in ("stop", "length")]
    assert sorted(row["text"] for row in finished) == sorted(c.text for c in result.candidates)
    assert all(row["state"] != "running" for row in watched.samples)
    assert "votes" in watched._render().caption


def test_a_thinking_models_text_is_dimmed_while_it_thinks_and_plain_once_it_answers():
    from ponder.backends.base import SamplingParams, generate
    from ponder.backends.local import LocalGenerator

    problem = arith.problems(2, 1)[0]
    generator = LocalGenerator("ponder-arith-think")
    try:
        watched = Watched(generator, problem.extract, "think")
        asyncio.run(generate(watched, problem.prompt(), SamplingParams(n=2, max_tokens=4, answer_reserve=0, seed=1)))
        asyncio.run(generate(watched, problem.prompt(), SamplingParams(n=2, seed=1)))
    finally:
        generator.close()
    cut, answered = watched.samples[:2], watched.samples[2:]
    assert all(row["thinking"] and row["state"] == "length" for row in cut)  # cut off inside the think block
    assert all(not row["thinking"] and "</think>" in row["text"] for row in answered)
    cells = watched._render().columns[-1]._cells
    assert [cell.style for cell in cells] == ["dim italic", "dim italic", "", ""]
