"""Thinking control on the shipped thinking model: the engine ends, extends or closes a sample's thinking at
exactly the token it should, with and without speculative decoding."""

import pytest

from ponder.engine import LLMEngine, SamplingParams
from ponder.errors import InvalidArgumentError
from ponder.models import resolve
from ponder.tasks import arith

PROBLEMS = [p for p in arith.problems(3, 30) if p.level >= 3][:4]


@pytest.fixture(scope="module")
def engine():
    return LLMEngine.from_pretrained(resolve("ponder-arith-think"), max_rows=64)


def prompt(engine, i=0, thinking=True):
    return engine.tokenizer.apply_chat_template(PROBLEMS[i].prompt(), add_generation_prompt=True, tokenize=False,
                                                enable_thinking=thinking)


def events_of(engine, text, params):
    request = engine.add_request(text, params)
    events = []
    while engine.has_unfinished():
        events += [e for e in engine.step() if e.request_id == request]
    return events


def per_sample(events, n):
    tokens = {i: [] for i in range(n)}
    reasoning = {i: 0 for i in range(n)}
    for e in events:
        tokens[e.index] += e.token_ids
        reasoning[e.index] += e.reasoning
    return tokens, reasoning


def test_the_thinking_budget_forces_the_end_marker_at_exactly_the_budget(engine):
    end = engine.thinking.end
    cue = engine.tokenizer.encode("\n\nAnswer:", add_special_tokens=False)
    for budget in (0, 5, 12):
        params = SamplingParams(n=6, max_tokens=120, thinking_budget=budget, answer_cue="\n\nAnswer:", seed=budget)
        tokens, reasoning = per_sample(events_of(engine, prompt(engine), params), 6)
        for i in range(6):
            assert end not in tokens[i][:budget]  # no end marker of its own that early (this model thinks longer)
            assert tokens[i][budget] == end and tokens[i][budget + 1:budget + 1 + len(cue)] == cue
            assert reasoning[i] == budget  # reasoning tokens: inside the block, the marker not counted


def test_min_thinking_tokens_turns_an_early_end_marker_into_wait(engine):
    end, wait = engine.thinking.end, list(engine.thinking.wait)
    free = SamplingParams(n=8, max_tokens=400, seed=7)  # room: no end is forced to leave room for the answer
    tokens, _ = per_sample(events_of(engine, prompt(engine, 1), free), 8)
    natural = {i: t.index(end) for i, t in tokens.items() if end in t}
    assert natural, "the model closes its thinking on its own"
    floor = max(natural.values()) + 10
    forced = SamplingParams(n=8, max_tokens=400, seed=7, min_thinking_tokens=floor)
    extended, reasoning = per_sample(events_of(engine, prompt(engine, 1), forced), 8)
    for i, at in natural.items():
        # the same draws up to the end marker, which became "Wait" (and the sample thought on)
        assert extended[i][:at] == tokens[i][:at]
        assert extended[i][at:at + len(wait)] == wait
        if end in extended[i]:
            assert extended[i].index(end) >= floor  # it could end its thinking only past the floor
            assert reasoning[i] >= floor


def test_recovery_leaves_room_for_the_answer_and_truncation_does_not(engine):
    end = engine.thinking.end
    text = prompt(engine, 2)
    free, _ = per_sample(events_of(engine, text, SamplingParams(n=8, max_tokens=300, seed=3)), 8)
    lengths = sorted(t.index(end) for t in free.values() if end in t)
    cap = lengths[len(lengths) // 2] + 4  # about the median: half the traces would not fit
    recovered, _ = per_sample(events_of(engine, text, SamplingParams(n=8, max_tokens=cap, seed=3)), 8)
    reserve = SamplingParams(max_tokens=cap).reserve
    assert reserve == min(64, cap // 4) > 0
    for t in recovered.values():
        assert end in t[:cap - reserve + 1]  # closed, at the latest when only the reserve was left
    truncated, _ = per_sample(events_of(engine, text, SamplingParams(n=8, max_tokens=cap, seed=3,
                                                                     answer_reserve=0)), 8)
    assert sum(end not in t for t in truncated.values()) >= 2  # plain truncation cuts traces off mid-thought
    answered = [engine.tokenizer.decode(t).split("</think>")[-1] for t in recovered.values()]
    assert sum(arith.extract_answer(a) is not None for a in answered) >= 7


def test_no_thinking_renders_an_empty_think_block_and_answers_at_once(engine):
    text = prompt(engine, 0, thinking=False)
    assert text.endswith("<think>\n\n</think>\n\n")
    events = events_of(engine, text, SamplingParams(n=4, max_tokens=40, seed=1))
    tokens, reasoning = per_sample(events, 4)
    for i in range(4):
        assert reasoning[i] == 0 and engine.thinking.end not in tokens[i]
        assert arith.extract_answer(engine.tokenizer.decode(tokens[i])) is not None


@pytest.mark.parametrize("model", ["ponder-arith-think", "ponder-arith"])
def test_keep_first_aborts_the_rest_in_the_step_the_race_is_decided(engine, model):
    """The same seeded samples with and without a race: the first 3 to end (close their thinking; or, for a
    model that does not think, stop) go on unchanged, and every other sample is aborted having made exactly as
    many tokens as there had been steps when the third one ended."""
    engine = engine if model == "ponder-arith-think" else LLMEngine.from_pretrained(resolve(model))
    text, n, end = prompt(engine, 3), 8, engine.thinking.end
    free, _ = per_sample(events_of(engine, text, SamplingParams(n=n, max_tokens=300, seed=6, temperature=1.0)), n)
    ends = {i: t.index(end) + 1 if end is not None else len(t) for i, t in free.items()}  # the step it ends in
    decided = sorted(ends.values())[2]
    assert sum(e > decided for e in ends.values()) >= 2, "the race must leave samples to abort"
    events = events_of(engine, text, SamplingParams(n=n, max_tokens=300, seed=6, temperature=1.0, keep_first=3))
    raced, _ = per_sample(events, n)
    reasons = {e.index: e.finish_reason for e in events if e.finished}
    kept = [i for i in range(n) if reasons[i] != "abort"]
    assert len(kept) == 3 if end is not None else len(kept) >= 3  # a plain sample that stops as the third does
    for i in range(n):                                           # has finished: nothing is left to abort
        if i in kept:
            assert ends[i] <= decided and raced[i] == free[i]
        else:
            assert ends[i] >= decided and raced[i] == free[i][:decided]
    with pytest.raises(InvalidArgumentError, match="keep_first=9 must be in"):
        SamplingParams(n=8, keep_first=9)


def test_speculative_decoding_keeps_thinking_control_exact():
    """Greedy with a draft is greedy without one, token for token, when the engine forces tokens mid-step."""
    plain = LLMEngine.from_pretrained(resolve("ponder-arith-think"))
    spec = LLMEngine.from_pretrained(resolve("ponder-arith-think"), draft=resolve("ponder-arith-think-draft"))
    for budget, floor in ((9, 0), (None, 40)):
        params = SamplingParams(temperature=0, max_tokens=90, thinking_budget=budget, min_thinking_tokens=floor,
                                answer_cue="\n\nAnswer:" if budget else "")
        for i in range(2):
            [a] = plain.generate([prompt(plain, i)], params)
            [b] = spec.generate([prompt(spec, i)], params)
            assert a.samples[0].token_ids == b.samples[0].token_ids
    assert spec.speculator.stats.accepted > 0


def test_thinking_control_on_a_model_that_does_not_think_is_refused():
    engine = LLMEngine.from_pretrained(resolve("ponder-arith"))
    for params in (SamplingParams(thinking_budget=10), SamplingParams(min_thinking_tokens=5)):
        with pytest.raises(InvalidArgumentError, match="thinking model"):
            engine.add_request("<s><|user|>Mia has 3 pens.<|assistant|>", params)
    with pytest.raises(InvalidArgumentError, match="min_thinking_tokens=9 must be <= thinking_budget=5"):
        SamplingParams(thinking_budget=5, min_thinking_tokens=9)
    with pytest.raises(InvalidArgumentError, match="answer_reserve"):
        SamplingParams(max_tokens=10, answer_reserve=10)
