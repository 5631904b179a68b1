"""Attention over a shared prompt (lean.py, kv_cache.Shared): a prompt's KV, copied into the rows of its samples,
is read once for all of them. The bookkeeping must follow the rows through every change of the batch (rows
leave and are refilled from the end, requests join, leading padding is trimmed), and the samples must come out
as they do with every row attending over its own copy."""

import pytest
import torch

from ponder.engine import LLMEngine, SamplingParams
from ponder.engine import kv_cache
from ponder.engine.kv_cache import Shared
from ponder.models import resolve
from ponder.tasks import arith


@pytest.fixture(scope="module")
def engine():
    return LLMEngine.from_pretrained(resolve("ponder-arith"), max_rows=40)


def prompts(engine, count):
    return [engine.tokenizer.apply_chat_template(p.prompt(), add_generation_prompt=True, tokenize=False)
            for p in arith.problems(3, count)]


def run(engine, requests, check=None):
    """Step `requests` ((prompt, params) pairs) to the end, adding the second half after a few steps, so rows
    leave, are refilled and join a running batch; returns every sample's tokens."""
    ids = [engine.add_request(p, params) for p, params in requests[:2]]
    seqs = {}
    steps = 0
    while engine.has_unfinished() or len(ids) < len(requests):
        if steps == 5:
            ids += [engine.add_request(p, params) for p, params in requests[2:]]
        for i in ids:
            seqs[i] = engine.scheduler.requests[i].seqs if i in engine.scheduler.requests else seqs[i]
        engine.step()
        steps += 1
        if check:
            check(engine.runner.kv)
    return [[s.token_ids for s in seqs[i]] for i in ids]


def test_rows_of_a_group_hold_its_columns_alike_through_leaves_refills_and_joins(engine):
    text = prompts(engine, 4)
    # differing max_tokens: rows leave at different steps and the scheduler moves rows from the end into their slots
    requests = [(text[0], SamplingParams(n=12, temperature=1.0, seed=1, max_tokens=24)),
                (text[1], SamplingParams(n=10, temperature=1.0, seed=2, max_tokens=48)),
                (text[2], SamplingParams(n=9, temperature=1.0, seed=3, max_tokens=16)),
                (text[3], SamplingParams(n=3, temperature=1.0, seed=4, max_tokens=16))]
    seen = []

    def check(kv):
        for s in kv.shared:
            assert len(s.rows) >= kv_cache.SHARE_ROWS and len(set(s.rows)) == len(s.rows)
            columns = slice(s.start, s.start + s.length)
            assert bool(kv.mask[list(s.rows), columns].all())
            for keys in kv.keys:
                assert torch.equal(keys[list(s.rows), :, columns], keys[s.rows[:1], :, columns].expand(
                    len(s.rows), -1, -1, -1))
        seen.append(len(kv.shared))

    shared = run(engine, requests, check)
    assert max(seen) == 3  # the three requests of 8 samples or more, at once; the one of 3 attends on its own
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kv_cache, "SHARE_ROWS", 10**9)
        alone = run(engine, requests)
    assert shared == alone


def test_a_group_that_falls_below_the_threshold_is_dropped():
    groups = (Shared(tuple(range(8)), 0, 20), Shared(tuple(range(8, 18)), 4, 16))
    kept = kv_cache._moved(groups, [0, 1, 2, 3, 4, 5, 6, 17, 9, 10, 11, 12, 13, 14, 15, 16], 0)
    # rows 7 and 8 left: the first group keeps 7 rows (dropped), the second 9 (moved: row 17 took slot 7)
    assert kept == (Shared((7, 8, 9, 10, 11, 12, 13, 14, 15), 4, 16),)


def test_in_half_precision_the_shared_path_gives_the_same_greedy_tokens():
    """The merge of the two parts runs in the model's dtype (bf16 here), not only in fp32."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve("ponder-arith")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    engine = LLMEngine(model, tokenizer)
    text = prompts(engine, 3)
    params = SamplingParams(n=12, temperature=0, max_tokens=48)
    shared = [s.token_ids for out in engine.generate(text, params) for s in out.samples]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kv_cache, "SHARE_ROWS", 10**9)
        alone = [s.token_ids for out in engine.generate(text, params) for s in out.samples]
    assert shared == alone and len(shared) == 36
