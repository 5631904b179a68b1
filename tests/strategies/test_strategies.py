"""Each strategy's decision logic, exactly, against scripted samples (scripted.py); the shared vote helpers."""

import asyncio
import math

import pytest

from ponder.errors import InvalidArgumentError
from ponder.strategies import STRATEGIES, Candidate, StrategyConfig
from ponder.strategies.adaptive_vote import Options as AdaptiveVote
from ponder.strategies.adaptive_vote import beta_rule, dirichlet_rule
from ponder.strategies.base import majority
from ponder.tasks import arith
from ponder.verifiers.arith_steps import ArithSteps
from scripted import Scripted, ScriptedGenerator

PROBLEM = arith.Problem(id="p", question="Mia has 3 pens.", solution="", answer=None, level=1)


def solve(strategy, script, budget, verifier=None, **options):
    generator = ScriptedGenerator(script)
    result = asyncio.run(STRATEGIES[strategy](PROBLEM, generator, verifier,
                                              StrategyConfig(budget=budget, options=options)))
    return result, generator


def answer(value, pad=0):
    """A scripted solution with answer `value`, `pad` characters longer than the shortest."""
    return "x" * pad + f"Answer: {value}"


def cand(value, logprob=-1.0):
    return Candidate(text=f"Answer: {value}", answer=value, tokens=5, finish_reason="stop", logprob=logprob)


def test_majority_counts_answers_pools_equivalent_ones_and_skips_missing_ones():
    assert majority([cand(3), cand(5), cand(3), cand(None), cand(None), cand(None)]) == (3, {"3": 2, "5": 1})
    assert majority([cand("1/2"), cand("0.5"), cand("\\frac{1}{2}"), cand("2")])[1] == {"1/2": 3, "2": 1}
    assert majority([cand(None)]) == (None, {})


def test_majority_breaks_ties_by_summed_logprob():
    assert majority([cand(1, -9.0), cand(2, -2.0), cand(1, -1.0), cand(2, -3.0)])[0] == 2
    assert majority([cand(1, -1.0), cand(2, -2.0)])[0] == 1


def test_vote_spends_the_budget_and_takes_the_majority():
    result, generator = solve("vote", [answer(7), answer(8), answer(7), answer(9)], budget=4)
    assert result.answer == 7 and result.votes == {"7": 2, "8": 1, "9": 1} and result.samples == 4
    assert result.tokens["generated"] == sum(len(s.script.text) for s in generator.samples)
    assert result.tokens["prompt"] == 10 and not generator.aborted


def test_the_stopping_rules():
    assert beta_rule([4]) == pytest.approx(1 - 0.5 ** 5)  # P(p1 > p2) under Beta(5, 1)
    assert beta_rule([3]) < 0.95 <= beta_rule([4])
    assert beta_rule([5, 1]) < beta_rule([6, 1])
    assert dirichlet_rule([4]) == 1.0 and dirichlet_rule([3, 3]) == pytest.approx(0.5, abs=0.02)


def test_adaptive_vote_stops_where_its_rule_says_and_aborts_the_samples_in_flight():
    # finishing order = script order (each later sample one character longer); answers 7 8 7 7 7 ...
    values = [7, 8, 7, 7, 7, 7, 7, 7, 7, 7]
    script = [answer(v, pad=i) for i, v in enumerate(values)]
    counts, stop = {}, None
    for k, v in enumerate(values, 1):  # where the Beta rule first reaches its default confidence (0.87)
        counts[v] = counts.get(v, 0) + 1
        if beta_rule(list(counts.values())) >= AdaptiveVote().confidence:
            stop = k
            break
    result, generator = solve("adaptive-vote", script, budget=32)  # two in flight
    assert result.stop_reason == "confident" and len(result.candidates) == stop == 5
    assert [c.answer for c in result.candidates] == values[:stop] and result.answer == 7
    assert result.samples == stop + 1  # one more was started when the 4th finished: aborted mid-flight
    assert len(generator.aborted) == 1 and 0 < generator.aborted[0].sent < len(generator.aborted[0].script.text)
    assert result.tokens["generated"] == sum(s.sent for s in generator.samples) < sum(len(t) for t in script[:6])
    # at 0.95 it needs 7: 7 8 7 7 7 7 7
    assert len(solve("adaptive-vote", script, budget=32, confidence=0.95)[0].candidates) == 7


def test_adaptive_vote_counts_votes_in_launch_order_not_finishing_order():
    # the first sample is long and answers 8; the short ones after it answer 7. Counted as they finish, four 7s
    # would stop the run before the 8 is in; in launch order nothing votes until the 8 has finished.
    script = [answer(8, pad=40)] + [answer(7, pad=i) for i in range(1, 10)]
    result, _ = solve("adaptive-vote", script, budget=32)
    assert [c.answer for c in result.candidates] == [8, 7, 7, 7, 7]  # 4 to 1: 0.89 >= 0.87
    assert result.stop_reason == "confident" and result.answer == 7 and result.details["certainty"] > 0.87


def test_adaptive_vote_spends_the_whole_budget_when_never_sure():
    result, generator = solve("adaptive-vote", [answer(i % 3) for i in range(6)], budget=6)
    assert result.stop_reason == "budget" and result.samples == 6 and len(result.candidates) == 6


def test_first_finish_returns_the_first_finisher_and_aborts_the_rest():
    script = [answer(5, pad=9), answer(3, pad=2), answer(5, pad=6), answer(5, pad=12)]
    result, generator = solve("first-finish", script, budget=4)
    assert result.answer == 3 and result.stop_reason == "first_finished" and len(result.candidates) == 1
    assert len(generator.aborted) == 3 and result.tokens["generated"] == 4 * len(answer(3, pad=2))


def test_short_vote_votes_among_the_first_m_to_finish():
    script = [answer(4, pad=9), answer(3, pad=0), answer(4, pad=2), answer(4, pad=3), answer(3, pad=1)]
    result, generator = solve("short-vote", script, budget=5, m=3)
    assert [c.answer for c in result.candidates] == [3, 3, 4] and result.answer == 3
    assert len(generator.aborted) == 2 and result.stop_reason == "first_m_finished"
    # a tie among the m goes to the answer of the shortest trace
    result, _ = solve("short-vote", [answer(4, pad=2), answer(3, pad=0), answer(9, pad=30)], budget=3, m=2)
    assert result.answer == 3


def test_deepconf_prunes_traces_below_the_warm_up_bar_and_stops_on_consensus():
    warm = [Scripted(answer(7), confidence=c) for c in (8.0, 9.0, 10.0, 11.0)]  # 10th percentile: 8.3
    low = [Scripted(answer(1, pad=30), confidence=2.0) for _ in range(4)]  # pruned after one window
    high = [Scripted(answer(7, pad=1 + i), confidence=9.5) for i in range(8)]  # they finish one by one
    result, generator = solve("deepconf", warm + low + high, budget=16, warmup=4, parallel=4, window=4,
                              consensus=0.99)
    assert result.details["threshold"] == pytest.approx(8.3)
    assert result.details["pruned"] == 4 and all(s.sent == 4 for s in generator.samples[4:8])  # one window each
    assert result.answer == 7 and 1 not in [c.answer for c in result.candidates]
    # the Beta rule reaches 0.99 at 6 unanimous votes: 4 warm-up traces and the first 2 high ones
    assert result.stop_reason == "consensus" and len(result.candidates) == 6
    assert result.samples < 16 and generator.aborted


def test_deepconf_keeps_traces_that_sit_exactly_on_the_bar():
    # traces of one problem often share their weakest window, so the bar equals their confidence: a bar
    # computed from rounded confidences (6.3089 > 6.308861) once pruned every one of them
    script = [Scripted(answer(7, pad=i), confidence=6.308861) for i in range(8)]
    result, _ = solve("deepconf", script, budget=8, warmup=4, parallel=4, window=4, consensus=0.999)
    assert result.details["pruned"] == 0 and len(result.candidates) == 8 and result.answer == 7


def test_deepconf_can_measure_confidence_by_the_sampled_tokens_logprobs():
    # the top-k confidences say nothing here (all equal); the sampled tokens' logprobs set the bar and prune
    warm = [Scripted(answer(7), logprob=lp) for lp in (-0.3, -0.2, -0.1, -0.05)]  # 10th percentile: -0.27
    low = [Scripted(answer(1, pad=30), logprob=-2.0) for _ in range(4)]
    high = [Scripted(answer(7, pad=1 + i), logprob=-0.15) for i in range(8)]
    result, generator = solve("deepconf", warm + low + high, budget=16, warmup=4, parallel=4, window=4,
                              consensus=0.99, measure="logprob")
    assert result.details["threshold"] == pytest.approx(-0.27)
    assert result.details["pruned"] == 4 and all(s.sent == 4 for s in generator.samples[4:8])
    # 4 warm-up and 2 high traces vote, each with exp(its lowest window's mean logprob)
    weights = [math.exp(lp) for lp in (-0.3, -0.2, -0.1, -0.05, -0.15, -0.15)]
    assert result.answer == 7 and result.votes["7"] == pytest.approx(sum(weights), abs=1e-3)
    with pytest.raises(InvalidArgumentError, match="measure='entropy'"):
        solve("deepconf", [answer(1)] * 4, budget=4, measure="entropy")


def test_weighted_vote_and_best_of_n_follow_the_verifier():
    good, bad = "2+3=5\nAnswer: 5", "2+3=6\nAnswer: 6"
    result, _ = solve("weighted-vote", [bad, bad, good], budget=3, verifier=ArithSteps())
    assert result.answer == 5 and result.votes == {"5": 1, "6": 0}  # the wrong steps weigh nothing
    result, _ = solve("weighted-vote", [Scripted(bad, logprob=-2.0), Scripted(good, logprob=-0.1)], budget=2)
    assert result.answer == 5 and result.details["weight"] == "confidence"
    result, _ = solve("best-of-n", [bad, good, bad], budget=3, verifier=ArithSteps())
    assert result.answer == 5 and [c.score for c in result.candidates] == [0.0, 1.0, 0.0]


def test_beam_keeps_the_top_scoring_prefixes():
    script = ["5+1=6\n", "5+1=7\n", "5+1=9\n",  # round 1: one beam, 3 ways; the two best go on (6, then 7 or 9)
              "6*2=12\n", "6*2=13\n", "6*2=12\n",  # round 2, from 5+1=6: 12 twice (kept once), 13 wrong
              "7*2=14\n", "7*2=14\n", "7*2=15\n",  # from the wrong first step: every child scores 0
              "Answer: 12", "Answer: 13", "Answer: 12", "Answer: 14", "Answer: 14", "Answer: 14"]
    result, generator = solve("beam", script, budget=6, verifier=ArithSteps(), expansions=3)
    assert generator.prefixes[:2] == ["", "5+1=6\n"] and generator.prefixes[2] in ("5+1=7\n", "5+1=9\n")
    # round 3 continues the best two: the sound path, then (all else scoring 0) a wrong one
    assert generator.prefixes[3] == "5+1=6\n6*2=12\n" and len(generator.prefixes) == 5
    assert result.answer == 12 and result.candidates[0].text == "5+1=6\n6*2=12\nAnswer: 12"
    assert result.candidates[0].score == 1.0 and result.details["width"] == 2 and result.samples == 15


def test_particle_filtering_resamples_towards_sound_steps():
    script = ["5+1=6\n", "5+1=7\n", "5+1=6\n", "5+1=8\n"] + ["Answer: 6"] * 4
    result, generator = solve("particle", script, budget=4, verifier=ArithSteps())
    assert generator.prefixes == ["", "5+1=6\n"]  # after resampling every particle shares the sound step
    assert result.answer == 6 and len(result.candidates) == 4 and result.details["resampled"] >= 2
    assert all(c.text == "5+1=6\nAnswer: 6" and c.score == 1.0 for c in result.candidates)


def test_spec_reason_keeps_the_drafted_steps_the_target_believes_and_rewrites_the_rest():
    # the draft writes the whole solution, the target reads its three steps in one pass and rejects the second
    # (so the third, written after it, is thrown away), writes that step itself, and the draft goes on after it
    draft = ScriptedGenerator(["5+1=6\n6*2=13\nAnswer: 13", "Answer: 12"], name="draft")
    target = ScriptedGenerator(["6*2=12\n"], name="target",
                               probability=lambda step: 0.9 if step in ("5+1=6\n", "Answer: 12") else 0.1)
    config = StrategyConfig(budget=1, draft=draft, options={"threshold": 0.5})
    result = asyncio.run(STRATEGIES["spec-reason"](PROBLEM, target, None, config))
    assert result.answer == 12 and result.candidates[0].text == "5+1=6\n6*2=12\nAnswer: 12"
    assert result.details["steps_accepted"] == 2 and result.details["steps_rewritten"] == 1
    assert result.details["step_probabilities"] == [0.9, 0.1, 0.9]
    assert target.scored == [("", ["5+1=6\n", "6*2=13\n", "Answer: 13"]), ("5+1=6\n6*2=12\n", ["Answer: 12"])]
    assert draft.prefixes == ["", "5+1=6\n6*2=12\n"] and target.prefixes == ["5+1=6\n"]
    by_model = result.tokens["by_model"]
    assert by_model["draft"]["generated"] == 6 + 7 + 10 + 10
    assert by_model["target"]["generated"] == 7
    assert by_model["target"]["prompt"] == 10 + 6 + 7 + 10 + 10  # its one request, and the four steps it read


def test_single_draws_one_sample_whatever_the_budget():
    result, generator = solve("single", [answer(2), answer(3)], budget=4)
    assert result.samples == 1 and result.answer == 2 and len(generator.samples) == 1


@pytest.mark.parametrize("strategy, options, message", [
    ("vote", {"m": 3}, "vote has no option 'm'"),
    ("short-vote", {"m": 0}, "m=0"),
    ("adaptive-vote", {"rule": "magic"}, "rule='magic'"),
    ("adaptive-vote", {"confidence": "high"}, "confidence='high' is not a float"),
    ("deepconf", {"keep": 0}, "keep=0"),
])
def test_bad_options_are_refused_by_name(strategy, options, message):
    with pytest.raises(InvalidArgumentError, match=message):
        solve(strategy, [answer(1)] * 4, budget=4, **options)


def test_a_budget_below_one_and_a_missing_verifier_are_refused():
    with pytest.raises(InvalidArgumentError, match="budget=0"):
        StrategyConfig(budget=0)
    with pytest.raises(InvalidArgumentError, match="best-of-n needs a verifier"):
        solve("best-of-n", [answer(1)], budget=1)
    with pytest.raises(InvalidArgumentError, match="spec-reason needs a draft model"):
        solve("spec-reason", [answer(1)], budget=1)
