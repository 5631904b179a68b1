"""The KV cache's one contact with transformers' forward: the cache goes in by the keyword the installed release
takes, so no release's deprecation warning reaches a user (it would land on stderr, under every CLI error)."""

import warnings

from ponder.engine import LLMEngine, SamplingParams
from ponder.models import resolve
from ponder.tasks import arith


def test_prefill_and_decode_pass_the_cache_without_a_warning():
    engine = LLMEngine.from_pretrained(resolve("ponder-arith"), max_rows=8)
    text = engine.tokenizer.apply_chat_template(arith.problems(0, 1)[0].prompt(), add_generation_prompt=True,
                                                tokenize=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        [out] = engine.generate([text], SamplingParams(n=2, temperature=0, max_tokens=8))
    assert [len(s.token_ids) for s in out.samples] == [8, 8]


def test_the_batch_is_laid_out_once_for_what_its_rows_may_reach_and_freed_when_they_leave():
    """Spare columns cover the rows' remaining max_tokens (no copy of the batch every HEADROOM steps), and when
    every row has left no view keeps the storage alive until the next batch."""
    engine = LLMEngine.from_pretrained(resolve("ponder-arith"))
    text = engine.tokenizer.apply_chat_template(arith.problems(0, 1)[0].prompt(), add_generation_prompt=True,
                                                tokenize=False)
    engine.add_request(text, SamplingParams(n=8, max_tokens=150, ignore_eos=True))
    storages = set()
    while engine.has_unfinished():
        engine.step()
        if engine.runner.kv.buffers:
            storages.add(engine.runner.kv.buffers[0][0].untyped_storage().data_ptr())
            assert engine.runner.kv.buffers[0][0].shape[2] <= len(engine.encode(text)) + 150
    assert len(storages) == 1  # 150 tokens > HEADROOM: a fixed headroom lays the batch out again on the way
    assert engine.runner.kv.buffers is None and engine.runner.kv.nbytes == 0
