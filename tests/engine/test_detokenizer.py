"""Incremental detokenization on the shipped tokenizer (byte fallback: é is two tokens, <0xC3><0xA9>): the pieces
join to the whole decode, a character split across tokens comes out once whole, and the Rust stream is never
behind the window method (it can be ahead: the window waits while any token of a step ends inside a character)."""

import pytest
from transformers import AutoTokenizer

from ponder.engine.detokenizer import Detokenizer
from ponder.models import resolve

TEXTS = ["Héllo wörld — naïve café 日本語 😀 3+12=15", "Tom has 3 apples.\nAnswer: 15", "€€ é"]


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(resolve("ponder-arith"))


def pieces(tokenizer, context, ids, step, stream=True):
    detok = Detokenizer(tokenizer, context)
    if not stream:
        detok.stream = None
    out = [detok.add(ids[i:i + step], final=i + step >= len(ids)) for i in range(0, len(ids), step)]
    return out


@pytest.mark.parametrize("step", [1, 2, 3])
@pytest.mark.parametrize("text", TEXTS)
def test_the_pieces_join_to_the_whole_text_and_hold_back_half_characters(tokenizer, text, step):
    context = tokenizer.encode("Question: what is it?", add_special_tokens=False)
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert len(ids) > len(text.encode()) // 4  # byte fallback really splits characters here
    out = pieces(tokenizer, context, ids, step)
    assert "".join(out) == tokenizer.decode(ids, skip_special_tokens=True) == text
    assert not any("\ufffd" in piece for piece in out)
    windows = pieces(tokenizer, context, ids, step, stream=False)
    assert "".join(windows) == text
    assert all("".join(out[:i]).startswith("".join(windows[:i])) for i in range(len(out)))


def test_a_sample_that_ends_inside_a_character_emits_what_it_has(tokenizer):
    ids = tokenizer.encode("café", add_special_tokens=False)[:-1]  # é's second byte never comes
    out = pieces(tokenizer, [], ids, 1)
    assert "".join(out) == tokenizer.decode(ids, skip_special_tokens=True)
    assert out == pieces(tokenizer, [], ids, 1, stream=False)
