"""The OpenAI backend over real HTTP: every strategy through a Generator that talks to a second `ponder serve` on
127.0.0.1, with early aborts, continuations of partial answers, scoring by echo and token accounting."""

import asyncio
import json

import pytest
from conftest import serve

from ponder.backends.base import SamplingParams, generate
from ponder.errors import InvalidArgumentError
from ponder.strategies import STRATEGIES, StrategyConfig
from ponder.tasks import arith
from ponder.verifiers import ArithSteps

pytest.importorskip("openai")

PROBLEMS = [p for p in arith.problems(11, 12) if p.level <= 2][:2]


@pytest.fixture(scope="module")
def remote():
    from ponder.backends.openai import OpenAIGenerator

    for url in serve():
        yield OpenAIGenerator(f"{url}/v1", "ponder-arith", chat_template="ponder-arith")


@pytest.fixture(scope="module")
def remote_draft():
    from ponder.backends.openai import OpenAIGenerator

    for url in serve("--model", "ponder-arith-draft"):
        yield OpenAIGenerator(f"{url}/v1", "ponder-arith-draft", chat_template="ponder-arith-draft")


@pytest.mark.parametrize("strategy", sorted(name for name, entry in STRATEGIES.items()
                                             if entry.model and not entry.thinking))  # ponder-arith does not think
def test_every_strategy_runs_over_http(request, remote, strategy, tmp_path):
    verifier = ArithSteps() if strategy in ("best-of-n", "weighted-vote", "beam", "particle") else None
    options = {}
    if STRATEGIES[strategy].chooses:  # auto: a policy that sends every bin to vote@8
        policy = tmp_path / "policy.json"
        policy.write_text(json.dumps({"probe": 2, "levels": [{"budget": 8, "choose": dict.fromkeys(
            ("agree", "split", "unanswered"), "vote@8")}]}))
        options = {"policy": str(policy)}
    config = StrategyConfig(budget=8, sampling=SamplingParams(temperature=0.7, seed=3), options=options)
    if strategy == "spec-reason":  # both models over HTTP: the target scores the draft's steps by echo
        config = StrategyConfig(budget=1, sampling=SamplingParams(temperature=0, seed=3),
                                draft=request.getfixturevalue("remote_draft"))
    for problem in PROBLEMS:
        result = asyncio.run(STRATEGIES[strategy](problem, remote, verifier, config))
        if strategy in ("single", "first-finish"):  # one sample's answer (which finishes first is a race)
            assert result.answer is not None and result.answer in [c.answer for c in result.candidates]
        else:
            assert result.answer == problem.answer, (strategy, result.candidates)
        assert all(c.answer == problem.extract(c.text) for c in result.candidates)
        spent = result.tokens["by_model"]
        if strategy == "spec-reason":  # the draft writes, the target reads (and writes only the steps it rejects)
            assert result.details["steps_accepted"] > 0 and spent["ponder-arith-draft"]["generated"] > 0
            assert spent["ponder-arith"]["prompt"] > 0
        else:
            assert result.tokens["generated"] > 0 and spent["ponder-arith"]["generated"] > 0


def test_what_a_request_asks_of_the_logits_goes_over_http_and_samples_as_here(remote):
    """logit_bias, penalties, min_tokens and stop_token_ids reach the server (OpenAI's fields, and vLLM's in the
    body): greedy samples over HTTP equal those drawn here with the same fields; ponder's engine-only thinking
    controls are refused, not dropped."""
    from ponder.backends.local import LocalGenerator
    from ponder.backends.openai import request_fields

    local = LocalGenerator("ponder-arith")
    prompt = PROBLEMS[0].prompt()
    plain = asyncio.run(generate(local, prompt, SamplingParams(temperature=0, max_tokens=40))).samples[0]
    ids = local.tokenizer.encode(plain.text, add_special_tokens=False)
    asks = [{"logit_bias": {ids[1]: -100}}, {"repetition_penalty": 3.0, "presence_penalty": 1.5},
            {"min_tokens": plain.tokens + 3}, {"stop_token_ids": [ids[3]]}]
    try:
        for ask in asks:
            params = SamplingParams(temperature=0, max_tokens=40, **ask)
            here = asyncio.run(generate(local, prompt, params)).samples[0]
            there = asyncio.run(generate(remote, prompt, params)).samples[0]
            assert (there.text, there.finish_reason) == (here.text, here.finish_reason), ask
            assert here.text != plain.text or ask.keys() == {"repetition_penalty", "presence_penalty"}
    finally:
        local.close()
    native, extra = request_fields(SamplingParams(logit_bias={5: -100}, frequency_penalty=0.5, min_tokens=2,
                                                  thinking_budget=9, extra={"bad_words": ["x"]}))
    assert native == {"frequency_penalty": 0.5, "logit_bias": {"5": -100}}
    assert extra == {"bad_words": ["x"], "min_tokens": 2, "thinking_token_budget": 9}
    config = StrategyConfig(budget=1, sampling=SamplingParams(thinking_budget=8))
    with pytest.raises(InvalidArgumentError, match="min_thinking_tokens"):  # s1's "Wait" is the engine's to write
        asyncio.run(STRATEGIES["budget-forcing"](PROBLEMS[0], remote, None, config))


def test_scoring_over_http_equals_scoring_here(remote):
    from ponder.backends.local import LocalGenerator

    local = LocalGenerator("ponder-arith")
    prompt, steps = PROBLEMS[0].prompt(), ["7+5=12\n", "12*3=36\n", "Answer: 36"]
    try:
        for prefix in ("", "3+4=7\n"):
            here = asyncio.run(local.score(prompt, steps, prefix))
            there = asyncio.run(remote.score(prompt, steps, prefix))
            assert [len(s) for s in there] == [len(s) for s in here] == [len(s) for s in steps]  # one char a token
            assert sum(there, []) == pytest.approx(sum(here, []), abs=1e-4)
        assert asyncio.run(remote.score(prompt, "7+5=12")) == pytest.approx(asyncio.run(local.score(prompt, "7+5=12")),
                                                                             abs=1e-4)
    finally:
        local.close()


def test_early_stopping_aborts_streams_over_http(remote):
    problem = PROBLEMS[0]
    vote = asyncio.run(STRATEGIES["vote"](problem, remote, None, StrategyConfig(budget=32)))
    adaptive = asyncio.run(STRATEGIES["adaptive-vote"](problem, remote, None, StrategyConfig(budget=32)))
    assert adaptive.stop_reason == "confident" and adaptive.answer == vote.answer == problem.answer
    assert adaptive.tokens["generated"] < vote.tokens["generated"] / 2
    assert vote.tokens["prompt"] > 0  # from the server's usage


def test_a_race_over_http_keeps_the_first_to_end_and_aborts_the_rest(remote):
    problem = PROBLEMS[0]
    short = asyncio.run(STRATEGIES["short-vote"](problem, remote, None, StrategyConfig(budget=16, options={"m": 3})))
    assert short.stop_reason == "first_m_finished" and len(short.candidates) == 3
    assert short.answer == problem.answer


def test_race_reads_ends_from_streamed_text():
    """keep_first where the engine cannot decide it: an end marker split across events ends a sample; a stop
    ends one only where the prompt opened no think block; aborts and samples already counted are passed over."""
    from ponder.backends.base import Race, SampleEvent
    from ponder.reasoning import ReasoningMarkers

    def event(index, text, finish=None):
        return SampleEvent(0, index, None, text, [0.0], finish_reason=finish)
    race = Race(2, ReasoningMarkers(), opened=True)
    assert not race.decides(event(0, "3+4=7\n</th"))
    assert not race.decides(event(1, "", "stop"))  # stopped inside its thinking: not ended
    assert not race.decides(event(0, "ink>")) and race.ended == {0}
    assert not race.decides(event(0, "</think>Answer: 7", "stop")) and not race.decides(event(2, "x", "abort"))
    assert race.decides(event(3, "</think>")) and race.ended == {0, 3}
    assert not race.decides(event(4, "</think>"))  # decided already
    plain = Race(1, None, opened=False)
    assert not plain.decides(event(0, "Answer: 7")) and plain.decides(event(1, "Answer: 7", "stop"))


def test_what_a_remote_server_cannot_do_is_a_clear_error(remote):
    from ponder.backends.base import generate
    from ponder.backends.openai import OpenAIGenerator

    bare = OpenAIGenerator(remote.base_url, "ponder-arith")  # no chat template: cannot render a partial answer
    with pytest.raises(InvalidArgumentError, match="chat template"):
        asyncio.run(generate(bare, PROBLEMS[0].prompt(), StrategyConfig().sampling, prefix="5+"))
    with pytest.raises(InvalidArgumentError, match="chat template"):
        asyncio.run(bare.score(PROBLEMS[0].prompt(), "1+1=2"))


def test_the_command_line_evaluates_and_serves_through_a_remote_server(remote):
    import json
    import subprocess
    import sys

    url = remote.base_url.removesuffix("/v1")
    proc = subprocess.run([sys.executable, "-m", "ponder.cli", "eval", "--task", "arith", "--limit", "4",
                           "--strategy", "vote", "--budget", "4", "--backend", url, "--json"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["n_problems"] == 4 and summary["tokens_generated_per_problem"] > 0 and summary["backend"] == url
    import openai

    for front in serve("--backend", url):  # ponder in front of the other server, adding its strategies
        reply = openai.OpenAI(base_url=f"{front}/v1", api_key="-").chat.completions.create(
            model="vote@4/ponder-arith", messages=PROBLEMS[0].prompt(), seed=1)
        assert reply.model_extra["ponder"]["runs"][0]["samples"] == 4 and reply.usage.completion_tokens > 0


@pytest.fixture(scope="module")
def remote_think():
    from ponder.backends.openai import OpenAIGenerator

    for url in serve("--model", "ponder-arith-think"):
        yield OpenAIGenerator(f"{url}/v1", "ponder-arith-think", chat_template="ponder-arith-think")


def test_a_thinking_models_reasoning_over_http_splits_and_counts_as_here(remote_think):
    """ponder serve sends the reasoning apart (`reasoning`, as vLLM does) and drops the markers; the backend puts them
    back, so each sample's reasoning, content and reasoning tokens are those of the same sample drawn here, and a
    race ends samples at their end markers."""
    from ponder.backends.local import LocalGenerator

    greedy = SamplingParams(temperature=0, max_tokens=160)
    local = LocalGenerator("ponder-arith-think")
    try:
        for problem in PROBLEMS:
            here, = asyncio.run(generate(local, problem.prompt(), greedy)).samples
            there, = asyncio.run(generate(remote_think, problem.prompt(), greedy)).samples
            assert (there.text, there.reasoning, there.content) == (here.text, here.reasoning, here.content)
            assert there.reasoning_tokens == here.reasoning_tokens > 0 and "</think>" in there.text
    finally:
        local.close()
    budget = SamplingParams(temperature=0, max_tokens=160, thinking_budget=6)  # vLLM's thinking_token_budget
    try:
        local = LocalGenerator("ponder-arith-think")
        here, = asyncio.run(generate(local, PROBLEMS[0].prompt(), budget)).samples
        there, = asyncio.run(generate(remote_think, PROBLEMS[0].prompt(), budget)).samples
        assert (there.text, there.reasoning_tokens) == (here.text, here.reasoning_tokens) == (there.text, 6)
    finally:
        local.close()
    short = asyncio.run(STRATEGIES["short-vote"](PROBLEMS[0], remote_think, None,
                                                 StrategyConfig(budget=8, options={"m": 3})))
    assert short.stop_reason == "first_m_finished" and len(short.candidates) == 3
    assert all(c.answer is not None and 0 < c.reasoning_tokens < c.tokens for c in short.candidates)


def test_the_think_block_is_rebuilt_from_split_deltas_and_read_from_raw_ones():
    """A server with a reasoning parser sends reasoning apart and no markers (put back: the end marker before the
    answer's first text); one without sends the markers in the text. Either way the tokens between them, and only
    those, are reasoning."""
    from ponder.backends.openai import _Thinking
    from ponder.reasoning import ReasoningMarkers

    split = _Thinking(ReasoningMarkers(), thinking=True, ended=False)  # the chat template opened the block
    assert [split.feed(r, t, 1) for r, t in [("23+", ""), ("15=38", ""), ("", ""), ("", "\n\nAnswer: 38"),
                                             ("", "!")]] == \
        [("23+", 1), ("15=38", 1), ("", 0), ("</think>\n\nAnswer: 38", 0), ("!", 0)]
    unopened = _Thinking(ReasoningMarkers(), thinking=False, ended=False)
    assert unopened.feed("1+1=2", "Answer: 2", 2) == ("<think>1+1=2</think>Answer: 2", 1)
    raw = _Thinking(ReasoningMarkers(), thinking=False, ended=False)
    assert [raw.feed("", t, 1) for t in ["<think>", "1+1", "=2", "</th", "ink>", "Answer: 2"]] == \
        [("<think>", 0), ("1+1", 1), ("=2", 1), ("</th", 1), ("ink>", 0), ("Answer: 2", 0)]
    continued = _Thinking(ReasoningMarkers(), thinking=False, ended=True)  # a partial answer past its think block
    assert continued.feed("", "Answer: 2", 1) == ("Answer: 2", 0)
