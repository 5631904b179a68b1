"""The engine against `transformers` on the shipped models: exact token-level comparisons, no mocks."""

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from ponder.engine import LLMEngine, SamplingParams
from ponder.errors import InvalidArgumentError
from ponder.models import resolve
from ponder.tasks import arith

PROBLEMS = arith.problems(0, 6)


@pytest.fixture(scope="module")
def engine():
    return LLMEngine.from_pretrained(resolve("ponder-arith"), max_rows=64)


def prompt(engine, i=0):
    return engine.tokenizer.apply_chat_template(PROBLEMS[i].prompt(), add_generation_prompt=True, tokenize=False)


def hf_greedy(engine, text, max_new_tokens=80):
    ids = engine.tokenizer(text, add_special_tokens=False, return_tensors="pt")
    out = engine.model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False)
    return out[0, ids["input_ids"].shape[1]:].tolist()


def test_greedy_equals_generate_token_for_token_on_a_batch_of_different_prompts(engine):
    prompts = [prompt(engine, i) for i in range(6)]  # different lengths: the batch is left-padded
    outputs = engine.generate(prompts, SamplingParams(n=2, temperature=0, max_tokens=80))
    for text, out in zip(prompts, outputs):
        reference = hf_greedy(engine, text)
        for sample in out.samples:
            assert sample.token_ids == reference
            assert sample.finish_reason == "stop" and sample.text.endswith(f"Answer: {arith.extract_answer(sample.text)}")
    assert engine.runner.kv.rows == 0  # every finished row has left the batch


def test_requests_that_arrive_mid_run_join_the_batch_and_answer_as_alone(engine):
    alone = [engine.generate([prompt(engine, i)], SamplingParams(temperature=0))[0].samples[0].token_ids
             for i in range(3)]
    first = engine.add_request(prompt(engine, 0), SamplingParams(temperature=0))
    engine.step(), engine.step(), engine.step()
    later = [engine.add_request(prompt(engine, i), SamplingParams(temperature=0)) for i in (1, 2)]
    events = []
    events += engine.step()
    assert engine.runner.kv.rows == 3  # the newcomers joined the running row
    while engine.has_unfinished():
        events += engine.step()
    for request_id, expected in zip([first] + later, alone):
        tokens = [t for e in events if e.request_id == request_id for t in e.token_ids]
        if request_id == first:
            tokens = expected[:3] + tokens  # its first three steps ran before `events` was collected
        assert tokens == expected


def test_rows_that_leave_and_join_in_place_keep_every_answer_exact(monkeypatch):
    """9 requests through 5 rows: finished rows are overwritten by rows from the end and newcomers are written
    into spare rows of the KV storage; every answer must still be generate's."""
    from ponder.engine.kv_cache import KV

    calls = {"joined": 0, "in_place": 0}
    joined = KV.joined

    def counted(self, parts):
        out = joined(self, parts)
        calls["joined"] += 1
        calls["in_place"] += out is not None
        return out
    monkeypatch.setattr(KV, "joined", counted)
    engine = LLMEngine.from_pretrained(resolve("ponder-arith"), max_rows=5)
    prompts = [prompt(engine, i % 6) for i in range(9)]
    outputs = engine.generate(prompts, SamplingParams(temperature=0, max_tokens=80))
    for text, out in zip(prompts, outputs):
        assert out.samples[0].token_ids == hf_greedy(engine, text)
    assert calls["in_place"] >= 1 and engine.runner.kv.rows == 0


def test_seeded_sampling_is_reproducible_and_each_sample_differs(engine):
    # a six-step problem: its samples part ways (on a one-step one, 8 samples can all agree by chance)
    params = SamplingParams(n=8, temperature=1.0, max_tokens=40, seed=123)
    a = engine.generate([prompt(engine, 5)], params)[0].samples
    b = engine.generate([prompt(engine, 5)], params)[0].samples
    assert [s.token_ids for s in a] == [s.token_ids for s in b]
    assert len({tuple(s.token_ids) for s in a}) > 1
    c = engine.generate([prompt(engine, 5)], SamplingParams(n=8, temperature=1.0, max_tokens=40, seed=124))[0].samples
    assert [s.token_ids for s in a] != [s.token_ids for s in c]


def test_an_aborted_sample_stops_growing_and_its_row_leaves_the_batch(engine):
    request = engine.add_request(prompt(engine, 5), SamplingParams(n=4, temperature=1.0, max_tokens=60, seed=1))
    for _ in range(3):
        engine.step()
    assert engine.runner.kv.rows == 4
    [event] = engine.abort(request, index=2)
    assert event.finish_reason == "abort" and event.generated_tokens == 3
    events = engine.step()
    assert engine.runner.kv.rows == 3 and sorted(e.index for e in events) == [0, 1, 3]
    engine.abort(request)
    assert engine.step() == [] and engine.runner.kv.rows == 0 and not engine.has_unfinished()


def test_a_stop_string_that_straddles_tokens_ends_the_sample_before_it(engine):
    full = engine.generate([prompt(engine, 3)], SamplingParams(temperature=0))[0].samples[0].text
    stop = "\nAnswer"  # eight one-character tokens
    [sample] = engine.generate([prompt(engine, 3)], SamplingParams(temperature=0, stop=(stop,)))[0].samples
    assert sample.finish_reason == "stop" and sample.text == full[:full.index(stop)]
    assert len(sample.token_ids) == len(engine.tokenizer.encode(full[:full.index(stop)] + stop, add_special_tokens=False))


def test_the_text_events_carry_never_holds_part_of_a_stop_string(engine):
    full = engine.generate([prompt(engine, 3)], SamplingParams(temperature=0))[0].samples[0].text
    stop = "\nAnswer"
    request = engine.add_request(prompt(engine, 3), SamplingParams(temperature=0, stop=(stop,)))
    sent, finished = "", None
    while engine.has_unfinished():
        for event in engine.step():
            assert event.request_id == request
            sent += event.text
            finished = event if event.finished else finished
    assert sent == full[:full.index(stop)]  # not one character of "\nAnswe" was sent first
    assert finished.stop_string == stop and finished.finish_reason == "stop"


def test_step_delimiter_marks_the_end_of_each_reasoning_step(engine):
    request = engine.add_request(prompt(engine, 3), SamplingParams(temperature=0, step_delimiter="\n"))
    events = []
    while engine.has_unfinished():
        events += engine.step()
    text = "".join(e.text for e in events)
    assert sum(e.step_end for e in events) == text.count("\n") == PROBLEMS[3].level
    assert all(e.text == "\n" for e in events if e.step_end) and events[-1].request_id == request


def test_a_prefix_cache_hit_gives_the_same_output_as_a_cold_start(engine):
    engine.prefix_cache.clear()
    params = SamplingParams(n=3, temperature=0.8, max_tokens=50, seed=9)
    cold = engine.generate([prompt(engine, 4)], params)[0].samples
    hits = engine.prefix_cache.stats.hit_tokens
    computed = engine.runner.prompt_tokens_computed
    warm = engine.generate([prompt(engine, 4)], params)[0].samples
    assert [s.token_ids for s in warm] == [s.token_ids for s in cold]
    assert engine.prefix_cache.stats.hit_tokens - hits == len(engine.encode(prompt(engine, 4))) - 1
    assert engine.runner.prompt_tokens_computed == computed  # nothing of the prompt was computed again
    # a prompt that extends a cached one computes only its new tokens
    longer = prompt(engine, 4) + "7"
    engine.generate([longer], SamplingParams(temperature=0, max_tokens=5))
    assert engine.runner.prompt_tokens_computed == computed + 1
    assert 0 < engine.prefix_cache.stats.hit_rate <= 1


def test_the_prefix_cache_keeps_to_its_memory_bound_least_recently_used_first(engine):
    from ponder.engine.prefix_cache import PrefixCache

    small = PrefixCache(max_bytes=1)
    small.insert(list(range(10)), engine.runner.prefill(engine.encode(prompt(engine))[:10]))
    assert not small.entries  # larger than the whole bound: not stored
    kv = engine.runner.prefill(engine.encode(prompt(engine))[:10])
    cache = PrefixCache(max_bytes=2 * kv.nbytes)
    cache.insert([1] * 10, kv), cache.insert([2] * 10, kv)
    cache.lookup([1] * 12)  # touches [1]*10
    cache.insert([3] * 10, kv)  # evicts the least recently used: [2]*10
    assert list(cache.entries) == [(1,) * 10, (3,) * 10] and cache.stats.evictions == 1
    assert cache.lookup([1] * 5 + [4])[0] == 5 and cache.lookup([9])[0] == 0


def test_a_request_larger_than_the_batch_runs_in_waves_from_one_computation_of_its_prompt(engine):
    """100 samples through 8 rows: never more than 8 rows, every sample finishes, the prompt is computed once
    (no prefix cache: the runner keeps its KV for the later waves), and the samples are those of one wide batch."""
    narrow = LLMEngine(engine.model, engine.tokenizer, max_rows=8, prefix_cache_bytes=0)
    text = prompt(engine, 1)
    params = SamplingParams(n=100, temperature=1.0, max_tokens=2, ignore_eos=True, seed=3)
    narrow.add_request(text, params)
    tokens, most = {}, 0
    while narrow.has_unfinished():
        for event in narrow.step():
            tokens.setdefault(event.index, []).extend(event.token_ids)
        most = max(most, narrow.runner.kv.rows, len(narrow.scheduler.running))
        assert len(narrow.runner.prompts) <= 1 and len(narrow.detokenizers) <= 8
    assert most == 8
    assert sorted(tokens) == list(range(100)) and all(len(t) == 2 for t in tokens.values())
    assert narrow.runner.prompt_tokens_computed == len(engine.encode(text)) - 1
    assert narrow.runner.prompts == {} and narrow.detokenizers == {} and narrow.sampler.draws == {}
    wide = LLMEngine(engine.model, engine.tokenizer, max_rows=100, prefix_cache_bytes=0)
    [out] = wide.generate([text], params)
    assert [s.token_ids for s in out.samples] == [tokens[i] for i in range(100)]


def test_the_batch_kv_stays_within_kv_cache_bytes_and_a_sample_that_cannot_fit_is_refused(engine):
    text = prompt(engine, 2)
    longest = len(engine.encode(text)) + 10
    budget = 5 * longest * engine.runner.kv_bytes_per_token  # five rows at their longest
    small = LLMEngine(engine.model, engine.tokenizer, max_rows=64, kv_cache_bytes=budget)
    small.add_request(text, SamplingParams(n=20, temperature=1.0, max_tokens=10, seed=4))
    most = 0
    while small.has_unfinished():
        small.step()
        most = max(most, small.runner.kv.rows)
        assert small.runner.kv.rows * small.runner.kv.length <= small.scheduler.max_kv_tokens
    assert most == 5
    tiny = LLMEngine(engine.model, engine.tokenizer, kv_cache_bytes=100 * engine.runner.kv_bytes_per_token)
    with pytest.raises(InvalidArgumentError, match=r"may reach 512 tokens .* holds \(100 tokens\)"):
        tiny.add_request(text, SamplingParams(max_tokens=500))  # its reach is capped at the context
    with pytest.raises(InvalidArgumentError, match="kv_cache_bytes=100 "):
        LLMEngine(engine.model, engine.tokenizer, kv_cache_bytes=100)


def test_a_reward_model_folder_is_refused_for_generation():
    with pytest.raises(InvalidArgumentError, match=r"^ponder-arith-orm is a reward model "
                                                   r"\(LlamaForSequenceClassification\); use it as --verifier orm$"):
        LLMEngine.from_pretrained(resolve("ponder-arith-orm"))


def test_score_gives_the_logprobs_that_sampling_reported(engine):
    events = []
    request = engine.add_request(prompt(engine, 2), SamplingParams(temperature=0.9, seed=5, max_tokens=30))
    while engine.has_unfinished():
        events += engine.step()
    tokens = [t for e in events for t in e.token_ids]
    reported = [lp for e in events for lp in e.logprobs]
    scored = engine.score(prompt(engine, 2), tokens)
    assert len(scored) == len(tokens) and request == events[0].request_id
    assert scored == pytest.approx(reported, abs=1e-4)


def test_top_logprobs_are_reported_when_asked(engine):
    [out] = engine.generate([prompt(engine)], SamplingParams(temperature=0, max_tokens=3, logprobs=3))
    request = engine.add_request(prompt(engine), SamplingParams(temperature=0, max_tokens=3, logprobs=3))
    events = engine.step()
    engine.abort(request)
    engine.step()
    [top] = events[0].top_logprobs
    assert len(top) == 3 and max(top, key=top.get) == out.samples[0].token_ids[0]
    assert max(top.values()) == pytest.approx(events[0].logprobs[0])


@pytest.mark.parametrize("bad, message", [
    (dict(n=0), "n=0"), (dict(max_tokens=0), "max_tokens=0"), (dict(top_p=0), "top_p=0"),
    (dict(temperature=-1), "temperature=-1"), (dict(min_p=1.5), "min_p=1.5")])
def test_bad_sampling_parameters_name_the_value(bad, message):
    with pytest.raises(InvalidArgumentError, match=message):
        SamplingParams(**bad)


def test_a_prompt_longer_than_the_context_names_both_lengths(engine):
    with pytest.raises(InvalidArgumentError, match=r"prompt has 600 tokens; the model's context is 512"):
        engine.add_request([7] * 600, SamplingParams())
    with pytest.raises(InvalidArgumentError, match="empty"):
        engine.add_request("", SamplingParams())


def test_a_model_that_is_not_a_causal_lm_is_refused(engine, tmp_path):
    config = engine.model.config
    config.num_labels = 2
    classifier = AutoModelForSequenceClassification.from_config(config)
    with pytest.raises(InvalidArgumentError, match="LlamaForSequenceClassification is not a causal language model"):
        LLMEngine(classifier, engine.tokenizer)


def test_sampling_follows_the_truncated_tempered_distribution(engine):
    import numpy as np
    from scipy.stats import chisquare

    temperature, top_k, top_p = 1.5, 6, 0.9
    candidates = [engine.encode(prompt(engine, i) + PROBLEMS[i].solution[:cut + 1])
                  for i in range(6) for cut, c in enumerate(PROBLEMS[i].solution) if c == "="]

    def entropy(ids):
        with torch.no_grad():
            p = torch.softmax(engine.model(torch.tensor([ids])).logits[0, -1] / temperature, -1)
        return float(-(p * p.clamp_min(1e-12).log()).sum())
    ids = max(candidates, key=entropy)  # the most uncertain position: truncation matters there
    with torch.no_grad():
        logits = engine.model(torch.tensor([ids])).logits[0, -1].double().numpy()
    # the reference, written independently: temper, keep the top k, then the smallest top-p nucleus
    tempered = np.exp((logits - logits.max()) / temperature)
    tempered /= tempered.sum()
    order = np.argsort(-tempered)[:top_k]
    nucleus = order[:np.searchsorted(np.cumsum(tempered[order]), top_p) + 1]
    expected = np.zeros_like(tempered)
    expected[nucleus] = tempered[nucleus] / tempered[nucleus].sum()

    draws = []
    for seed in range(4):
        [out] = engine.generate([ids], SamplingParams(n=500, temperature=temperature, top_k=top_k, top_p=top_p,
                                                      max_tokens=1, seed=seed))
        draws += [s.token_ids[0] for s in out.samples]
    counts = np.bincount(draws, minlength=len(expected))
    assert set(np.nonzero(counts)[0]) <= set(nucleus)  # nothing outside the truncation
    assert chisquare(counts[nucleus], expected[nucleus] * len(draws)).pvalue > 1e-3
    # the test has power: a sampler that ignored the truncation would put this many draws outside it
    assert (1 - tempered[nucleus].sum()) * len(draws) > 30
