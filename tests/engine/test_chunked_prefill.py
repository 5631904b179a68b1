"""Chunked prefill on the shipped model: a prompt that joins a decoding batch is computed a chunk a step while the
rows keep emitting, answers exactly as it does alone, and can be aborted part way."""

import pytest

from ponder.engine import LLMEngine, SamplingParams
from ponder.errors import InvalidArgumentError
from ponder.models import resolve
from ponder.tasks import arith

PROBLEMS = arith.problems(0, 3)
CHUNK = 16


@pytest.fixture(scope="module")
def engine():
    return LLMEngine.from_pretrained(resolve("ponder-arith"), prefill_chunk=CHUNK)


def prompt(engine, i):
    return engine.tokenizer.apply_chat_template(PROBLEMS[i].prompt(), add_generation_prompt=True, tokenize=False)


def test_a_prompt_joining_a_decoding_batch_is_computed_a_chunk_a_step_and_answers_as_alone(engine):
    whole = LLMEngine(engine.model, engine.tokenizer, prefill_chunk=None)
    alone = whole.generate([prompt(engine, 1)], SamplingParams(temperature=0))[0].samples[0].token_ids
    running = engine.add_request(prompt(engine, 0), SamplingParams(n=4, temperature=0, max_tokens=120))
    engine.step()
    engine.runner.prefix_cache.clear()  # so all of the late prompt is computed (it shares the chat template's start)
    late_prompt = engine.encode(prompt(engine, 1))
    late = engine.add_request(late_prompt, SamplingParams(temperature=0))
    computed = engine.runner.prompt_tokens_computed
    steps = 0
    while True:
        events = engine.step()
        if any(e.request_id == late for e in events):
            break
        steps += 1
        # each step computes at most one chunk of the prompt, and every decoding row still emits a token
        assert engine.runner.prompt_tokens_computed - computed <= CHUNK
        computed = engine.runner.prompt_tokens_computed
        assert sum(e.request_id == running and bool(e.token_ids) for e in events) == 4
    assert steps == -(-(len(late_prompt) - 1) // CHUNK) - 1  # the last chunk's step is the one it joins at
    tokens = [t for e in events if e.request_id == late for t in e.token_ids]
    while engine.has_unfinished():
        tokens += [t for e in engine.step() if e.request_id == late for t in e.token_ids]
    assert tokens == alone
    assert not engine.runner.partial and not engine.prefilling


def test_a_request_aborted_while_its_prompt_is_computed_ends_and_frees_its_part(engine):
    running = engine.add_request(prompt(engine, 0), SamplingParams(temperature=0, max_tokens=40))
    engine.step()
    late = engine.add_request(prompt(engine, 2), SamplingParams(n=3, temperature=0))
    engine.step()
    assert late in engine.runner.partial  # part of its prompt is computed
    assert engine.waiting_rows == 3  # its samples wait to join (what /metrics reports as waiting rows)
    events = engine.abort(late)
    assert sorted(e.index for e in events) == [0, 1, 2] and all(e.finish_reason == "abort" for e in events)
    assert engine.waiting_rows == 0
    while engine.has_unfinished():
        assert not any(e.request_id == late for e in engine.step())
    assert late not in engine.runner.partial and late not in engine.scheduler.requests
    assert running not in engine.scheduler.requests


def test_a_prompt_with_no_batch_decoding_is_computed_whole_at_once(engine):
    engine.add_request(prompt(engine, 1), SamplingParams(temperature=0, max_tokens=4))
    engine.step()
    assert not engine.prefilling and engine.runner.kv.rows == 1
    while engine.has_unfinished():
        engine.step()


def test_a_prefill_chunk_below_one_is_refused(engine):
    with pytest.raises(InvalidArgumentError, match="prefill_chunk=0"):
        LLMEngine(engine.model, engine.tokenizer, prefill_chunk=0)


def test_a_long_prompt_joining_short_rows_leaves_every_answer_exact(engine):
    """The batch is left-padded to its longest row; the lean forward lets the short rows attend over their own
    columns only (lean._spans), and every answer must still be generate's."""
    from ponder.bench.engine import _prompts
    from ponder.engine.lean import _spans

    def greedy(text, tokens):
        ids = engine.tokenizer(text, add_special_tokens=False, return_tensors="pt")
        out = engine.model.generate(**ids, max_new_tokens=tokens, do_sample=False)
        return out[0, ids["input_ids"].shape[1]:].tolist()

    short, long = prompt(engine, 0), _prompts(engine.tokenizer, "long", long_tokens=300)[0]
    engine = LLMEngine(engine.model, engine.tokenizer, prefill_chunk=128)  # joins while the short rows decode
    first = engine.add_request(short, SamplingParams(n=2, temperature=0, max_tokens=40))
    events = engine.step()
    late = engine.add_request(long, SamplingParams(temperature=0, max_tokens=12))
    spans = 0
    while engine.has_unfinished():
        events += engine.step()
        if engine.runner.kv.rows == 3:
            spans = max(spans, len(_spans(engine.runner.kv.mask)))
    assert spans == 2  # the two short rows, and the long one
    tokens = {(e.request_id, e.index): [] for e in events}
    for e in events:
        tokens[e.request_id, e.index] += e.token_ids
    assert tokens[first, 0] == greedy(short, 40) and tokens[first, 1] == greedy(short, 40)
    assert tokens[late, 0] == greedy(long, 12)
