"""The strategies with a thinking model, exactly, against scripted samples that think (scripted.py): answers read
from the content, thinking turned off (nothink-vote), held to a budget (budget-forcing), and ranked by the length
of the thinking (first-finish, short-vote)."""

import asyncio

import pytest

from ponder.backends.base import Sample, SampleEvent, SamplingParams, Stream
from ponder.errors import InvalidArgumentError
from ponder.reasoning import ReasoningMarkers
from ponder.strategies import STRATEGIES, StrategyConfig
from ponder.strategies.base import Session, Traces
from ponder.tasks import arith
from scripted import ScriptedGenerator

PROBLEM = arith.Problem(id="p", question="Mia has 3 pens.", solution="", answer=None, level=1)
END = "</think>"


def solve(strategy, script, budget, sampling=SamplingParams(), opened=True, **options):
    """The strategy on a scripted model whose chat template opens the think block (a sample starts inside it)."""
    generator = ScriptedGenerator(script, opened=opened)
    config = StrategyConfig(budget=budget, sampling=sampling, options=options)
    return asyncio.run(STRATEGIES[strategy](PROBLEM, generator, None, config)), generator


def thinks(reasoning, content):
    """A sample of an opened think block: `reasoning` (a string, or that many characters), then its answer."""
    return (reasoning if isinstance(reasoning, str) else "r" * reasoning) + END + content


def test_the_scripted_model_counts_the_tokens_inside_its_think_block():
    script = [thinks(3, "\n\nAnswer: 7"), thinks(0, "Answer: 7"), "Answer: 7"]
    result, _ = solve("vote", script, budget=3)
    assert [c.reasoning_tokens for c in result.candidates] == [3, 0, 9]  # opened: all of the third is reasoning
    assert result.tokens["reasoning"] == 12 and result.tokens["answer"] == result.tokens["generated"] - 12
    script = [thinks(3, "\n\nAnswer: 7"), " <think>ab" + END + "Answer: 7", "Answer: 7"]
    result, _ = solve("vote", script, budget=3, opened=False)  # a block only where a sample opens it itself
    assert [c.reasoning_tokens for c in result.candidates] == [0, 2, 0] and result.tokens["reasoning"] == 2
    assert result.answer == 7 and result.votes == {"7": 3}


def test_a_candidates_answer_is_read_from_its_content_not_its_reasoning():
    result, _ = solve("single", [thinks("Answer: 5", "\n\nAnswer: 7")], budget=1)
    assert result.answer == 7 and result.candidates[0].text == "Answer: 5" + END + "\n\nAnswer: 7"
    result, _ = solve("single", [thinks("Answer: 5", "\n\nno idea")], budget=1)
    assert result.answer is None  # the reasoning's answer is not the sample's
    session = Session("single", PROBLEM, ScriptedGenerator([]), StrategyConfig())
    sample = Sample(0, "Answer: 5</think>Answer: 7", "stop", 26, -2.6, reasoning_tokens=9, reasoning="Answer: 5",
                    content="Answer: 7")
    candidate = session.candidate(sample)
    assert candidate.answer == 7 and candidate.reasoning_tokens == 9 and candidate.text == sample.text


def test_traces_see_an_end_marker_split_across_events():
    stream = Stream(iter(()), 1, 0, abort=None, markers=ReasoningMarkers(), opened=True)
    traces = Traces()
    for i, text in enumerate(["23+15=38 </th", "", "in", "k>", "Answer: 38"]):
        key = traces.add(stream, SampleEvent(0, 0, None, text, [0.0]))
        assert traces.thought(key) == (i >= 3)
    plain = Stream(iter(()), 1, 0, abort=None)  # a model that does not think never has
    assert not traces.thought(traces.add(plain, SampleEvent(0, 0, None, END, [0.0])))


def test_nothink_vote_turns_thinking_off_and_votes_on_the_content():
    script = [f"<think>Answer: 5{END}Answer: 7", f"<think>Answer: 5{END}no idea", f"<think>Answer: 5{END}",
              "Answer: 7"]
    result, generator = solve("nothink-vote", script, budget=4)
    [params] = generator.params
    assert params.enable_thinking is False and params.n == 4
    assert result.strategy == "nothink-vote" and result.answer == 7 and result.votes == {"7": 2}
    assert [c.answer for c in result.candidates] == [7, None, None, 7]
    assert result.tokens["reasoning"] == 3 * len("Answer: 5")  # the closed template: only the written blocks


def test_budget_forcing_holds_the_thinking_to_its_budget():
    result, generator = solve("budget-forcing", [thinks("Answer: 5", "\n\nAnswer: 4"), "Answer: 9"], budget=4,
                              thinking_tokens=9)
    [params] = generator.params
    assert params.thinking_budget == params.min_thinking_tokens == 9 and params.n == 1
    assert result.answer == 4 and result.samples == 1 and len(generator.samples) == 1
    assert result.details == {"thinking_budget": 9, "reasoning_tokens": 9}
    assert result.candidates[0].reasoning_tokens == 9 and result.stop_reason == "sampled"
    # the budget from the sampling (--thinking-budget), unless the option says otherwise
    _, generator = solve("budget-forcing", [thinks(3, "Answer: 1")], budget=1,
                         sampling=SamplingParams(thinking_budget=32))
    assert (generator.params[0].thinking_budget, generator.params[0].min_thinking_tokens) == (32, 32)
    _, generator = solve("budget-forcing", [thinks(3, "Answer: 1")], budget=1,
                         sampling=SamplingParams(thinking_budget=32), thinking_tokens=16)
    assert (generator.params[0].thinking_budget, generator.params[0].min_thinking_tokens) == (16, 16)


def test_budget_forcing_refuses_to_run_without_a_budget():
    with pytest.raises(InvalidArgumentError, match="budget-forcing needs a thinking budget: --thinking-budget N "
                                                   "or --option thinking_tokens=N"):
        solve("budget-forcing", [thinks(3, "Answer: 1")], budget=1)
    with pytest.raises(InvalidArgumentError, match="thinking_tokens=-1 must be >= 0"):
        solve("budget-forcing", [thinks(3, "Answer: 1")], budget=1, thinking_tokens=-1)


def test_first_finish_takes_the_first_trace_to_end_its_thinking():
    long_answer = thinks(2, "x" * 30 + "Answer: 1")  # ends its thinking first (tick 10), its whole text last
    script = ["r" * 3,  # stops inside its thinking at tick 3: finished, but not a winner (no answer)
              thinks(5, "Answer: 2"),  # would end its whole text first (tick 22): aborted at tick 10
              thinks(20, "Answer: 3"), long_answer, "r" * 40]
    result, generator = solve("first-finish", script, budget=5)
    assert result.answer == 1 and result.stop_reason == "first_finished"
    assert [c.answer for c in result.candidates] == [None, 1] and result.votes == {"1": 1}
    assert result.details == {"winner_tokens": len(long_answer), "winner_reasoning_tokens": 2}
    # the others were aborted the moment the winner wrote its end marker, and wrote nothing more
    assert generator.aborted == [generator.samples[i] for i in (1, 2, 4)]
    assert [s.sent for s in generator.samples] == [3, 10, 10, 49, 10]
    assert result.tokens["generated"] == 3 + 10 + 10 + 49 + 10
    assert result.tokens["reasoning"] == 3 + 5 + 10 + 2 + 10


def test_short_vote_keeps_the_first_m_to_end_their_thinking_and_ties_go_to_the_shortest_thinking():
    script = [thinks(9, "Answer: 4"),  # would end its thinking at tick 17: aborted at tick 12
              thinks(3, "x" * 30 + "Answer: 3"),  # ends its thinking first (tick 11), its whole text last (50)
              thinks(7, "Answer: 4"),  # tick 15: aborted at tick 12
              thinks(4, "Answer: 4"),  # ends its thinking second (tick 12), its whole text first (21)
              "r" * 5]  # stops inside its thinking at tick 5: not one of the m
    result, generator = solve("short-vote", script, budget=5, m=2)
    assert [(c.answer, c.reasoning_tokens, c.tokens) for c in result.candidates] == [(3, 3, 50), (4, 4, 21)]
    # one vote each: the shortest thinking wins (not the shortest trace, nor the higher summed logprob)
    assert result.votes == {"3": 1, "4": 1} and result.answer == 3
    assert result.stop_reason == "first_m_finished" and result.details == {"m": 2}
    assert generator.aborted == [generator.samples[0], generator.samples[2]]
    assert [s.sent for s in generator.samples] == [12, 50, 12, 21, 5]
    assert result.tokens["generated"] == 12 + 50 + 12 + 21 + 5
