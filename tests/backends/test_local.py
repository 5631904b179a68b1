"""LocalGenerator: the Generator protocol over ponder's engine, checked against the `generate` backend."""

import asyncio

import pytest

from ponder.backends.base import SamplingParams
from ponder.backends.local import LocalGenerator
from ponder.tasks import arith

PROBLEMS = arith.problems(4, 6)


@pytest.fixture(scope="module")
def local():
    generator = LocalGenerator("ponder-arith", seed=0)
    yield generator
    generator.close()


def test_greedy_answers_equal_the_generate_backend(local, target):
    params = SamplingParams(n=2, temperature=0.0, max_tokens=128)

    async def both(generator):
        return await asyncio.gather(*(generator.generate(p.messages(), params) for p in PROBLEMS))

    ours, reference = asyncio.run(both(local)), asyncio.run(both(target))
    for a, b in zip(ours, reference):
        assert [s.text for s in a.samples] == [s.text for s in b.samples]
        assert [s.tokens for s in a.samples] == [s.tokens for s in b.samples]
        assert [s.finish_reason for s in a.samples] == ["stop", "stop"]


def test_token_accounting_counts_the_prompt_once(local):
    before = local.usage.prompt, local.usage.generated
    out = asyncio.run(local.generate(PROBLEMS[0].messages(), SamplingParams(n=4, max_tokens=64)))
    assert out.usage.prompt == len(local.encode(PROBLEMS[0].messages()))  # computed once for the 4 samples
    assert out.usage.generated == sum(s.tokens for s in out.samples) and len(out.samples) == 4
    assert (local.usage.prompt - before[0], local.usage.generated - before[1]) == (out.usage.prompt,
                                                                                   out.usage.generated)


def test_the_same_seed_and_order_give_the_same_samples():
    params = SamplingParams(n=3, temperature=1.0, max_tokens=48)

    def run():
        generator = LocalGenerator("ponder-arith", seed=7)
        try:
            return asyncio.run(generator.generate(PROBLEMS[1].messages(), params)).samples
        finally:
            generator.close()

    assert [s.text for s in run()] == [s.text for s in run()]
