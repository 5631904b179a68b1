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
