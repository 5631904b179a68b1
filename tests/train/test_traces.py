"""The thinking model's synthetic traces: what is put into the data, and what the loss is on."""

import random
import statistics
from dataclasses import replace

from ponder.tasks import arith
from ponder.train import traces
from ponder.train.tokenizer import build_tokenizer
from ponder.train.trainer import TrainConfig, batch_for_step, training_example

PROBLEMS = [arith.problem("train", 0, i) for i in range(200)]


def test_a_trace_without_slips_works_the_solution_and_answers_right():
    clean = traces.TraceConfig(slip=0.0, doubtful_slip=0.0, doubt=0.0)
    for i, problem in enumerate(PROBLEMS[:50]):
        text, answer = traces.trace(problem, random.Random(i), clean)
        assert answer == problem.answer and "Wait" not in text
        assert [line for line in text.splitlines() if not line.startswith("check")] == problem.solution.splitlines()[:-1]


def test_doubt_shows_and_raises_the_slip_rate():
    """Doubt is written down (an earlier step re-checked) before the steps it makes slip more often, so a model
    that cannot tell its own slips still learns when it is likely to slip."""
    steps = {False: [], True: []}  # (doubt shown before the step) -> the step slipped
    for i, problem in enumerate(PROBLEMS):
        text, _ = traces.trace(problem, random.Random(i), traces.TraceConfig(catch=0.0, doubtful_catch=0.0))
        doubtful = False
        for line in text.splitlines():
            doubtful = doubtful or line.startswith(traces.CHECK_AGAIN)
            if (m := arith._EQUATION.fullmatch(line)):
                a, op, x, r = m.groups()
                steps[doubtful].append(traces._apply(op, int(a), int(x)) != int(r))
    assert statistics.mean(steps[True]) > statistics.mean(steps[False]) + 0.2


def test_slips_make_traces_longer_and_the_long_ones_wrong_more_often():
    lengths, right = [], []
    for i, problem in enumerate(PROBLEMS):
        samples = [traces.trace(problem, random.Random(f"{i}:{j}")) for j in range(8)]
        lengths.append([len(text) for text, _ in samples])
        right.append([answer == problem.answer for _, answer in samples])
    caught = sum("not" in traces.trace(p, random.Random(i))[0] for i, p in enumerate(PROBLEMS))
    assert caught > 0  # some slips are caught and redone
    assert 0.6 < statistics.mean(r for rs in right for r in rs) < 0.9  # and some not
    short, long_ = [], []
    for ls, rs in zip(lengths, right):
        if 0 < sum(rs) < len(rs):
            order = sorted(range(len(ls)), key=ls.__getitem__)
            short += [rs[j] for j in order[:4]]
            long_ += [rs[j] for j in order[4:]]
    assert statistics.mean(short) > statistics.mean(long_) + 0.15


def test_the_loss_skips_the_prompt_and_an_end_marker_the_engine_forced():
    tokenizer = build_tokenizer(thinking=True)
    end = tokenizer.convert_tokens_to_ids("</think>")
    kinds = set()
    for i in range(60):
        segments = training_example(0, i, tokenizer, 0.0, True)
        prompt, learned = segments[0], segments[1:]
        assert not prompt[1] and prompt[0].endswith("<|assistant|><think>\n") or prompt[0].endswith("</think>\n\n")
        if prompt[0].endswith("</think>\n\n"):
            kinds.add("nothink")
        elif (traces.END, False) in learned:
            kinds.add("cut")
        else:
            kinds.add("whole")
            assert all(flag for _, flag in learned)
    assert kinds == {"nothink", "cut", "whole"}
    cfg = replace(TrainConfig(preset="toy", out="unused", batch_size=8), thinking=True)
    batch = batch_for_step(0, cfg, tokenizer)
    ids, labels = batch["input_ids"], batch["labels"]
    ends = (ids == end) & (batch["attention_mask"] == 1)
    # an end marker the template or the engine wrote is not learnt; one that ends a whole trace is
    assert ends.any() and (labels[ends] == -100).any() and (labels[ends] == end).any()
