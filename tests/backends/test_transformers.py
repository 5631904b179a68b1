import asyncio
import re

import pytest

from ponder.backends.base import SamplingParams
from ponder.errors import InvalidArgumentError
from ponder.tasks import arith

PROBLEMS = arith.problems(0, 6)


def run(coro):
    return asyncio.run(coro)


def test_n_samples_per_request_and_token_accounting(target):
    before = target.usage.prompt, target.usage.generated

    async def both():
        params = SamplingParams(n=3, temperature=0.7, max_tokens=64)
        return await asyncio.gather(*(target.generate(p.messages(), params) for p in PROBLEMS[:2]))

    generations = run(both())
    assert [len(g.samples) for g in generations] == [3, 3]
    for problem, generation in zip(PROBLEMS, generations):
        prompt_len = len(target.encode(problem.messages()))
        assert generation.usage.prompt == 3 * prompt_len  # `generate` recomputes the prompt for each row
        assert generation.usage.generated == sum(s.tokens for s in generation.samples)
        for sample in generation.samples:
            assert 1 <= sample.tokens <= 64 and sample.logprob <= 0
            assert sample.finish_reason in ("stop", "length")
    spent = sum(g.usage.generated for g in generations)
    assert (target.usage.prompt - before[0], target.usage.generated - before[1]) == (
        sum(g.usage.prompt for g in generations), spent)


def test_greedy_is_deterministic_and_ends_at_eos(target):
    params = SamplingParams(n=2, temperature=0.0, max_tokens=128)
    a = run(target.generate(PROBLEMS[0].messages(), params))
    b = run(target.generate(PROBLEMS[0].messages(), params))
    texts = [s.text for s in a.samples + b.samples]
    assert len(set(texts)) == 1
    assert a.samples[0].finish_reason == "stop" and "Answer:" in texts[0]


def test_max_tokens_cuts_a_sample_with_reason_length(target):
    generation = run(target.generate(PROBLEMS[5].messages(), SamplingParams(n=2, temperature=0.0, max_tokens=4)))
    assert all(s.tokens == 4 and s.finish_reason == "length" for s in generation.samples)


def test_stop_strings_end_a_sample(target):
    generation = run(target.generate(PROBLEMS[3].messages(),
                                     SamplingParams(n=1, temperature=0.0, max_tokens=128, stop=("\n",))))
    sample = generation.samples[0]
    assert sample.finish_reason == "stop" and "\n" not in sample.text  # the stop string is not returned
    assert re.fullmatch(r"\d+[-+*/]\d+=\d+", sample.text), sample.text  # the first step, then stop
    whole = run(target.generate(PROBLEMS[3].messages(), SamplingParams(n=1, temperature=0.0, max_tokens=128)))
    assert whole.samples[0].text.startswith(sample.text + "\n") and whole.samples[0].tokens > sample.tokens


def test_the_same_seed_and_requests_give_the_same_samples():
    from ponder.backends.transformers import TransformersGenerator

    def draw():
        gen = TransformersGenerator("ponder-arith", seed=123)
        return [s.text for s in run(gen.generate(PROBLEMS[4].messages(), SamplingParams(n=8, max_tokens=96))).samples]

    first = draw()
    assert first == draw()
    assert len(set(first)) > 1  # sampled at T=0.7, not greedy


def test_a_prompt_longer_than_the_context_is_refused(target):
    with pytest.raises(InvalidArgumentError, match="context is 512"):
        target.encode("1+" * 400)


@pytest.mark.parametrize("kwargs, name", [({"n": 0}, "n=0"), ({"max_tokens": 0}, "max_tokens=0"),
                                          ({"temperature": -1}, "temperature=-1"), ({"top_p": 0}, "top_p=0")])
def test_bad_sampling_params_name_the_value(kwargs, name):
    with pytest.raises(InvalidArgumentError, match=name):
        SamplingParams(**kwargs)
