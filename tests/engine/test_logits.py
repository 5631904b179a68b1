"""What a request asks of the logits (logit_bias, penalties, min_tokens, stop_token_ids), on the shipped model:
against transformers' own logits processors where it has them, and speculative decoding against plain decoding."""

import pytest
import torch
from transformers import LogitsProcessorList, RepetitionPenaltyLogitsProcessor

from ponder.engine import LLMEngine, SamplingParams
from ponder.errors import InvalidArgumentError
from ponder.models import resolve
from ponder.tasks import arith

PROBLEMS = arith.problems(5, 4)


@pytest.fixture(scope="module")
def engine():
    return LLMEngine.from_pretrained(resolve("ponder-arith"))


def prompt(engine, i=0):
    return engine.tokenizer.apply_chat_template(PROBLEMS[i].prompt(), add_generation_prompt=True, tokenize=False)


def greedy(engine, text, **params):
    [out] = engine.generate([text], SamplingParams(**{"temperature": 0, "max_tokens": 60, **params}))
    return out.samples[0]


def hf(engine, text, **kwargs):
    ids = engine.tokenizer(text, add_special_tokens=False, return_tensors="pt")
    out = engine.model.generate(**ids, do_sample=False, **{"max_new_tokens": 60, **kwargs})
    return out[0, ids["input_ids"].shape[1]:].tolist()


def test_repetition_penalty_and_min_tokens_equal_transformers_token_for_token(engine):
    changed = 0
    for i in range(3):
        text = prompt(engine, i)
        plain = greedy(engine, text).token_ids
        penalised = greedy(engine, text, repetition_penalty=3.0).token_ids
        changed += penalised != plain
        assert penalised == hf(engine, text, logits_processor=LogitsProcessorList(
            [RepetitionPenaltyLogitsProcessor(3.0)]))
        longer = greedy(engine, text, min_tokens=len(plain) + 5, max_tokens=len(plain) + 20)
        assert len(longer.token_ids) >= len(plain) + 5
        assert longer.token_ids == hf(engine, text, min_new_tokens=len(plain) + 5, max_new_tokens=len(plain) + 20)
    assert changed  # the penalty acts on this (confident) model's greedy arithmetic


def test_logit_bias_bans_and_forces_tokens(engine):
    text = prompt(engine)
    plain = greedy(engine, text).token_ids
    banned = plain[2]
    out = greedy(engine, text, logit_bias={banned: -100})
    assert banned not in out.token_ids and out.token_ids[:2] == plain[:2]
    forced = engine.tokenizer.convert_tokens_to_ids("7")
    [sampled] = engine.generate([text], SamplingParams(n=4, temperature=1.0, max_tokens=8, logit_bias={forced: 100},
                                                       seed=1))
    assert all(s.token_ids == [forced] * 8 for s in sampled.samples)


def test_frequency_and_presence_penalties_subtract_from_used_tokens_logits(engine):
    changed = 0
    asks = ((2, {"frequency_penalty": 2.0}), (0, {"presence_penalty": 2.0}), (1, {"frequency_penalty": -1.0}))
    for i, params in asks:
        text = prompt(engine, i)
        context = engine.tokenizer(text, add_special_tokens=False).input_ids
        out = greedy(engine, text, **params)
        # each chosen token is the argmax of the model's logits less the penalty on the tokens before it
        for j, token in enumerate(out.token_ids[:25]):
            logits = engine.model(torch.tensor([context + out.token_ids[:j]])).logits[0, -1].float()
            counts = torch.bincount(torch.tensor(out.token_ids[:j], dtype=torch.long), minlength=logits.shape[0])
            logits -= params.get("frequency_penalty", 0) * counts + params.get("presence_penalty", 0) * (counts > 0)
            assert int(logits.argmax()) == token
        changed += out.token_ids != greedy(engine, text).token_ids
    assert changed


def test_a_stop_token_id_ends_the_sample_kept_in_its_tokens_not_its_text(engine):
    text = prompt(engine)
    plain = greedy(engine, text)
    stop = plain.token_ids[4]
    out = greedy(engine, text, stop_token_ids=[stop])
    first = plain.token_ids.index(stop)
    assert out.token_ids == plain.token_ids[:first + 1] and out.finish_reason == "stop"
    assert out.text == engine.tokenizer.decode(plain.token_ids[:first], skip_special_tokens=True)
    later = greedy(engine, text, stop_token_ids=[stop], min_tokens=first + 2)  # not chosen before min_tokens
    assert later.token_ids[:first] == plain.token_ids[:first] and stop not in later.token_ids[:first + 2]
    assert len(later.token_ids) > first + 2


def test_speculative_decoding_keeps_them_exactly():
    plain = LLMEngine.from_pretrained(resolve("ponder-arith"))
    speculative = LLMEngine(plain.model, plain.tokenizer, num_speculative_tokens=4,
                            draft=LLMEngine.from_pretrained(resolve("ponder-arith-draft")).model)
    prompts = [prompt(plain, i) for i in range(4)]
    for extra in ({"frequency_penalty": 1.0, "repetition_penalty": 1.3}, {"min_tokens": 40}):
        params = SamplingParams(n=2, temperature=0, max_tokens=60, **extra)
        for a, b in zip(plain.generate(prompts, params), speculative.generate(prompts, params)):
            assert [s.token_ids for s in a.samples] == [s.token_ids for s in b.samples]
    assert speculative.speculator.stats.accepted > 0


def test_bad_values_are_one_clear_error(engine):
    for bad, words in (({"logit_bias": {1: 101}}, "logit_bias"), ({"presence_penalty": 3}, "presence_penalty"),
                       ({"repetition_penalty": 0}, "repetition_penalty"), ({"min_tokens": 300}, "min_tokens"),
                       ({"stop_token_ids": [-1]}, "stop_token_ids")):
        with pytest.raises(InvalidArgumentError, match=words):
            SamplingParams(**bad)
    vocab = engine.model.get_output_embeddings().weight.shape[0]
    for field in ("logit_bias", "stop_token_ids"):
        value = {vocab: 1.0} if field == "logit_bias" else [vocab]
        with pytest.raises(InvalidArgumentError, match=f"{field}: token {vocab} is not in the model's vocabulary"):
            engine.add_request(prompt(engine), SamplingParams(**{field: value}))
