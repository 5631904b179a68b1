import asyncio
import json

import pytest

from ponder.backends.base import SamplingParams
from ponder.errors import InvalidArgumentError
from ponder.strategies import STRATEGIES, Candidate, StrategyConfig
from ponder.strategies.base import majority
from ponder.tasks import arith


def cand(answer, logprob=-1.0):
    return Candidate(text=f"Answer: {answer}", answer=answer, tokens=5, finish_reason="stop", logprob=logprob)


def test_majority_counts_answers_and_skips_missing_ones():
    answer, votes = majority([cand(3), cand(5), cand(3), cand(None), cand(None), cand(None)])
    assert answer == 3 and votes == {"3": 2, "5": 1}
    assert majority([cand(None)]) == (None, {})


def test_majority_breaks_ties_by_summed_logprob():
    assert majority([cand(1, -9.0), cand(2, -2.0), cand(1, -1.0), cand(2, -3.0)])[0] == 2
    assert majority([cand(1, -1.0), cand(2, -2.0)])[0] == 1


def test_budget_below_one_is_refused():
    with pytest.raises(InvalidArgumentError, match="budget=0"):
        StrategyConfig(budget=0)


def test_vote_spends_its_budget_and_returns_a_serialisable_result(target):
    problem = arith.problems(0, 3)[2]
    result = asyncio.run(STRATEGIES["vote"](problem, target, StrategyConfig(budget=8, sampling=SamplingParams(max_tokens=128))))
    assert result.samples == 8 == len(result.candidates)
    assert sum(result.votes.values()) == sum(c.answer is not None for c in result.candidates)
    top = max(result.votes.values())
    assert result.votes[str(result.answer)] == top
    assert result.tokens["generated"] == sum(c.tokens for c in result.candidates)
    data = json.loads(json.dumps(result.to_dict()))
    assert {"answer", "strategy", "budget", "samples", "tokens", "wall_s", "stop_reason", "candidates"} <= data.keys()


def test_single_draws_one_sample_whatever_the_budget(target):
    problem = arith.problems(0, 1)[0]
    result = asyncio.run(STRATEGIES["single"](problem, target, StrategyConfig(budget=4, sampling=SamplingParams(temperature=0.0))))
    assert result.samples == 1 and result.budget == 4 and result.strategy == "single"
    assert result.answer == problem.extract(result.candidates[0].text)
