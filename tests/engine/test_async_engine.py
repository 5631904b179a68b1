"""AsyncEngine: the engine on its worker thread, driven from asyncio tasks."""

import asyncio

import pytest

from ponder.engine import AsyncEngine, LLMEngine, SamplingParams
from ponder.errors import InvalidArgumentError
from ponder.models import resolve
from ponder.tasks import arith

PROBLEMS = arith.problems(1, 8)


@pytest.fixture(scope="module")
def engine():
    engine = AsyncEngine(LLMEngine.from_pretrained(resolve("ponder-arith")))
    yield engine
    engine.close()


def prompt(engine, i):
    return engine.engine.tokenizer.apply_chat_template(PROBLEMS[i].prompt(), add_generation_prompt=True,
                                                       tokenize=False)


def test_concurrent_requests_stream_their_own_samples(engine):
    async def main():
        streams = [await engine.submit(prompt(engine, i), SamplingParams(n=3, temperature=0)) for i in range(4)]
        return await asyncio.gather(*(s.collect() for s in streams))

    results = asyncio.run(main())
    for i, samples in enumerate(results):
        assert [s.index for s in samples] == [0, 1, 2]
        assert len({s.text for s in samples}) == 1  # greedy: the three samples agree
        assert all(s.finish_reason == "stop" and s.text.rstrip().split("\n")[-1].startswith("Answer:")
                   for s in samples)
        assert samples[0].token_ids == engine.engine.tokenizer.encode(samples[0].text, add_special_tokens=False) + [
            engine.engine.tokenizer.eos_token_id]


def test_events_carry_text_deltas_logprobs_and_counts(engine):
    async def main():
        stream = await engine.submit(prompt(engine, 5), SamplingParams(n=2, temperature=0.7, seed=3))
        return [e async for e in stream]

    events = asyncio.run(main())
    for index in (0, 1):
        mine = [e for e in events if e.index == index]
        assert [e.generated_tokens for e in mine] == list(range(1, len(mine) + 1))
        assert all(len(e.token_ids) == len(e.logprobs) == 1 and e.logprobs[0] <= 0 for e in mine)
        assert mine[-1].finished and not any(e.finished for e in mine[:-1])
        text = "".join(e.text for e in mine)
        assert text == engine.engine.tokenizer.decode([t for e in mine for t in e.token_ids], skip_special_tokens=True)


def test_abort_mid_stream_ends_every_sample_and_frees_its_rows(engine):
    async def main():
        stream = await engine.submit(prompt(engine, 5), SamplingParams(n=16, temperature=1.0, max_tokens=200))
        seen = []
        async for event in stream:
            seen.append(event)
            if len(seen) == 16:  # one step's worth
                await engine.abort(stream.request_id)
        rows = await engine._call(lambda: (engine.engine.step(), engine.engine.runner.kv.rows)[1])
        return seen, rows

    seen, rows = asyncio.run(main())
    finished = [e for e in seen if e.finished]
    assert len(finished) == 16 and rows == 0
    assert sum(e.finish_reason == "abort" for e in finished) >= 1
    assert max(e.generated_tokens for e in seen) < 60  # stopped long before its 200 tokens


def test_a_cancelled_generate_aborts_its_samples(engine):
    async def main():
        task = asyncio.create_task(engine.generate(prompt(engine, 4), SamplingParams(n=8, max_tokens=200)))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.05)
        return await engine._call(lambda: (engine.engine.step(), engine.engine.has_unfinished(),
                                           engine.engine.runner.kv.rows)[1:])

    assert asyncio.run(main()) == (False, 0)


def test_score_through_the_worker_gives_the_logprobs_that_sampling_reported(engine):
    async def main():
        [sample] = await engine.generate(prompt(engine, 3), SamplingParams(temperature=0))
        return sample, await engine.score(prompt(engine, 3), sample.token_ids)

    sample, scored = asyncio.run(main())
    assert len(scored) == len(sample.token_ids) and sum(scored) == pytest.approx(sample.logprob, abs=1e-3)


def test_a_bad_prompt_fails_its_own_call_only(engine):
    async def main():
        with pytest.raises(InvalidArgumentError, match="context is 512"):
            await engine.submit([5] * 1000, SamplingParams())
        return await engine.generate(prompt(engine, 0), SamplingParams(temperature=0))

    assert asyncio.run(main())[0].finish_reason == "stop"
