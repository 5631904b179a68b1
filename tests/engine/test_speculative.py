"""Speculative decoding with the shipped draft model: the output distribution is exactly the target's."""

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from ponder.engine import LLMEngine, SamplingParams
from ponder.errors import InvalidArgumentError
from ponder.models import resolve
from ponder.tasks import arith

PROBLEMS = arith.problems(2, 40)


@pytest.fixture(scope="module")
def engines():
    plain = LLMEngine.from_pretrained(resolve("ponder-arith"))
    speculative = LLMEngine(plain.model, plain.tokenizer, max_rows=500, num_speculative_tokens=4,
                            draft=LLMEngine.from_pretrained(resolve("ponder-arith-draft")).model)
    return plain, speculative


def prompt(engine, problem):
    return engine.tokenizer.apply_chat_template(problem.prompt(), add_generation_prompt=True, tokenize=False)


def test_greedy_speculation_gives_exactly_the_greedy_tokens(engines):
    plain, speculative = engines
    prompts = [prompt(plain, p) for p in PROBLEMS[:6]]
    params = SamplingParams(n=2, temperature=0, max_tokens=100)
    expected = plain.generate(prompts, params)
    got = speculative.generate(prompts, params)
    for a, b in zip(expected, got):
        assert [s.token_ids for s in a.samples] == [s.token_ids for s in b.samples]
        assert [s.logprob for s in a.samples] == pytest.approx([s.logprob for s in b.samples], abs=1e-3)
    stats = speculative.speculator.stats
    assert stats.accepted > 0.5 * stats.proposed  # the draft mostly agrees with the target
    assert speculative.steps < plain.steps  # ... so it takes fewer target passes
    assert speculative.runner.kv.rows == speculative.speculator.draft.kv.rows == 0


def test_sampled_speculation_keeps_the_target_distribution(engines):
    plain, speculative = engines
    # the prefix (a prompt and a partial solution, cut after "=") where draft and target disagree most
    candidates = []
    for p in PROBLEMS:
        solution = p.solution
        for cut in [i + 1 for i, c in enumerate(solution) if c == "="]:
            candidates.append(plain.encode(prompt(plain, p) + solution[:cut]))
    def dist(model, ids):
        with torch.no_grad():
            return torch.softmax(model(torch.tensor([ids])).logits[0, -1].float(), -1).numpy().astype(np.float64)
    draft = speculative.speculator.draft.model
    pairs = [(ids, dist(plain.model, ids), dist(draft, ids)) for ids in candidates[:40]]
    ids, q, p = max(pairs, key=lambda t: 0.5 * np.abs(t[1] - t[2]).sum())
    assert 0.5 * np.abs(q - p).sum() > 0.2  # a case where a wrong acceptance rule shows

    n, requests = 500, 4
    firsts = []
    for r in range(requests):  # max_tokens=3: two draft tokens proposed; the first output token is tested
        [out] = speculative.generate([ids], SamplingParams(n=n, temperature=1.0, max_tokens=3, seed=100 + r))
        firsts += [s.token_ids[0] for s in out.samples]
    assert speculative.speculator.stats.proposed > 0
    total = n * requests
    observed = np.bincount(firsts, minlength=len(q)).astype(float)

    def pvalue(counts, probs):
        big = probs * total >= 5  # cells expected to hold at least 5; the rest pooled into one
        f_obs = np.append(counts[big], counts[~big].sum())
        f_exp = np.append(probs[big], probs[~big].sum()) * total
        keep = f_exp > 0
        return chisquare(f_obs[keep], f_exp[keep] * f_obs[keep].sum() / f_exp[keep].sum()).pvalue

    assert pvalue(observed, q) > 1e-3  # consistent with the target's own distribution
    # the test has the power to catch the two classic mistakes at this sample size:
    always_accept = p  # keeping every draft token gives the draft's distribution
    beta = np.minimum(p, q).sum()
    resample_from_target = np.minimum(p, q) + (1 - beta) * q  # rejections resampled from q, not max(q - p, 0)
    assert pvalue(always_accept * total, q) < 1e-6
    assert pvalue(resample_from_target * total, q) < 1e-3


def test_a_draft_with_another_vocabulary_is_refused(engines):
    from transformers import LlamaConfig, LlamaForCausalLM

    plain, _ = engines
    other = LlamaForCausalLM(LlamaConfig(vocab_size=100, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2))
    with pytest.raises(InvalidArgumentError, match=r"vocabulary \(100\) differs from the target's \(357\)"):
        LLMEngine(plain.model, plain.tokenizer, draft=other)
