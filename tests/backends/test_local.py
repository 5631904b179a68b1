"""LocalGenerator: the Generator protocol (streams, abort, score, token accounting) over ponder's engine."""

import asyncio
import re

import pytest
import torch
from transformers import AutoModelForCausalLM

from ponder.backends.base import SamplingParams, generate
from ponder.backends.local import LocalGenerator
from ponder.errors import InvalidArgumentError
from ponder.models import resolve
from ponder.tasks import arith

PROBLEMS = arith.problems(4, 6)


def run(coro):
    return asyncio.run(coro)


def test_greedy_samples_equal_transformers_generate(target):
    model = AutoModelForCausalLM.from_pretrained(resolve("ponder-arith"), dtype=torch.float32).eval()
    for problem in PROBLEMS[:3]:
        ids = target.encode(problem.prompt())
        out = run(generate(target, problem.prompt(), SamplingParams(n=2, temperature=0.0, max_tokens=128)))
        with torch.inference_mode():
            ref = model.generate(torch.tensor([ids]), do_sample=False, max_new_tokens=128, pad_token_id=3)[0, len(ids):]
        ref_text = target.tokenizer.decode(ref, skip_special_tokens=True)
        assert [s.text for s in out.samples] == [ref_text] * 2
        assert [s.tokens for s in out.samples] == [len(ref)] * 2 and out.samples[0].finish_reason == "stop"


def test_token_accounting_counts_the_prompt_once(target):
    before = target.usage.prompt, target.usage.generated
    out = run(generate(target, PROBLEMS[0].prompt(), SamplingParams(n=4, max_tokens=64)))
    assert out.usage.prompt == len(target.encode(PROBLEMS[0].prompt()))  # computed once for the 4 samples
    assert out.usage.generated == sum(s.tokens for s in out.samples) and len(out.samples) == 4
    assert all(len(s.token_logprobs) == s.tokens and abs(sum(s.token_logprobs) - s.logprob) < 1e-3
               for s in out.samples)
    assert (target.usage.prompt - before[0], target.usage.generated - before[1]) == (out.usage.prompt,
                                                                                     out.usage.generated)


def test_abort_stops_a_stream_mid_flight_and_counts_what_was_spent(target):
    async def main():
        stream = await target.submit(PROBLEMS[5].prompt(), SamplingParams(n=4, max_tokens=200, ignore_eos=True))
        seen = 0
        async for event in stream:
            seen += event.tokens
            if seen >= 12 and not stream.finish_reasons:
                await stream.abort(0)  # one sample first, then the rest
                await stream.abort()
        return stream, seen

    stream, seen = run(main())
    assert stream.done and set(stream.finish_reasons.values()) == {"abort"}
    assert stream.usage.generated == seen < 4 * 200


def test_score_gives_the_logprobs_that_sampling_reported(target):
    out = run(generate(target, PROBLEMS[1].prompt(), SamplingParams(temperature=0.0, max_tokens=128))).samples[0]
    head, _, tail = out.text.partition("\n")
    scored = run(target.score(PROBLEMS[1].prompt(), tail, prefix=head + "\n"))
    assert len(scored) == len(target.tokenizer.encode(tail, add_special_tokens=False))
    assert scored == pytest.approx(out.token_logprobs[-len(scored) - 1:-1], abs=1e-4)  # all but the EOS


def test_score_reads_a_list_of_steps_in_one_pass_as_if_each_were_read_alone(target):
    out = run(generate(target, PROBLEMS[3].prompt(), SamplingParams(temperature=0.0, max_tokens=128))).samples[0]
    steps = [line + "\n" for line in out.text.split("\n")[:-1]] + [out.text.split("\n")[-1]]
    together = run(target.score(PROBLEMS[3].prompt(), steps))
    assert len(together) == len(steps) >= 3
    for i, step in enumerate(steps):
        alone = run(target.score(PROBLEMS[3].prompt(), step, prefix="".join(steps[:i])))
        assert together[i] == pytest.approx(alone, abs=1e-4)


def test_greedy_is_deterministic_and_ends_at_eos(target):
    params = SamplingParams(n=2, temperature=0.0, max_tokens=128)
    a = run(generate(target, PROBLEMS[0].prompt(), params))
    b = run(generate(target, PROBLEMS[0].prompt(), params))
    texts = [s.text for s in a.samples + b.samples]
    assert len(set(texts)) == 1
    assert a.samples[0].finish_reason == "stop" and "Answer:" in texts[0]


def test_max_tokens_cuts_a_sample_with_reason_length(target):
    out = run(generate(target, PROBLEMS[5].prompt(), SamplingParams(n=2, temperature=0.0, max_tokens=4)))
    assert all(s.tokens == 4 and s.finish_reason == "length" for s in out.samples)


def test_stop_strings_end_a_sample_and_a_prefix_continues_it(target):
    first = run(generate(target, PROBLEMS[3].prompt(),
                         SamplingParams(temperature=0.0, max_tokens=128, stop=("\n",)))).samples[0]
    assert first.finish_reason == "stop" and "\n" not in first.text  # the stop string is not returned
    assert re.fullmatch(r"\d+[-+*/]\d+=\d+", first.text), first.text  # the first step, then stop
    whole = run(generate(target, PROBLEMS[3].prompt(), SamplingParams(temperature=0.0, max_tokens=128))).samples[0]
    rest = run(generate(target, PROBLEMS[3].prompt(), SamplingParams(temperature=0.0, max_tokens=128),
                        prefix=first.text + "\n")).samples[0]
    assert whole.text == first.text + "\n" + rest.text


def test_the_same_seed_and_order_give_the_same_samples():
    params = SamplingParams(n=3, temperature=1.0, max_tokens=48)

    def draw():
        generator = LocalGenerator("ponder-arith", seed=7)
        try:
            return [s.text for s in run(generate(generator, PROBLEMS[1].prompt(), params)).samples]
        finally:
            generator.close()

    first = draw()
    assert first == draw() and len(set(first)) > 1


def test_a_prompt_longer_than_the_context_is_refused(target):
    with pytest.raises(InvalidArgumentError, match="context is 512"):
        run(target.submit("1+" * 400, SamplingParams()))


@pytest.mark.parametrize("kwargs, name", [({"n": 0}, "n=0"), ({"max_tokens": 0}, "max_tokens=0"),
                                          ({"temperature": -1}, "temperature=-1"), ({"top_p": 0}, "top_p=0")])
def test_bad_sampling_params_name_the_value(kwargs, name):
    with pytest.raises(InvalidArgumentError, match=name):
        SamplingParams(**kwargs)
