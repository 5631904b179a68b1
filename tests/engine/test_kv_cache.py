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
