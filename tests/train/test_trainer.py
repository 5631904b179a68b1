import json
import re
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from ponder.errors import InvalidArgumentError
from ponder.tasks import arith
from ponder.train.tokenizer import build_tokenizer
from ponder.train.trainer import BUCKET, TrainConfig, batch_for_step, lr_at, train, training_text


def toy(out, steps=20):
    return TrainConfig(preset="toy", out=str(out), steps=steps, batch_size=4, lr=1e-2, warmup=5, save_every=10,
                       threads=1)


def test_a_short_training_run_lowers_the_loss_and_exports_a_loadable_model(tmp_path):
    summary = train(toy(tmp_path, 60), progress=False)
    losses = torch.load(tmp_path / "checkpoint.pt", weights_only=False)["state"]["losses"]
    assert len(losses) == 60
    assert sum(losses[-10:]) / 10 < 0.6 * sum(losses[:5]) / 5
    assert summary["tokens"] > 0 and json.loads((tmp_path / "train_summary.json").read_text())["steps"] == 60

    model = AutoModelForCausalLM.from_pretrained(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    assert next(model.parameters()).dtype == torch.bfloat16  # shipped in 16 bits
    inputs = tokenizer.apply_chat_template([{"role": "user", "content": "Mia has 3 pens."}],
                                           add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    assert out.shape[1] > inputs["input_ids"].shape[1]
    assert (tmp_path / "snapshots" / "step-30" / "model.safetensors").is_file()
    saved = json.loads((tmp_path / "tokenizer.json").read_text())
    assert saved["truncation"] is None and saved["padding"] is None  # nothing left from the training batches


def test_a_resumed_run_ends_where_an_uninterrupted_one_does(tmp_path):
    train(toy(tmp_path / "straight"), progress=False)
    stopped = train(toy(tmp_path / "resumed"), progress=False, until=7)
    assert stopped["steps"] == 7 and not (tmp_path / "resumed" / "model.safetensors").exists()
    train(toy(tmp_path / "resumed"), progress=False)
    a = load_file(tmp_path / "straight" / "model.safetensors")
    b = load_file(tmp_path / "resumed" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_init_from_starts_from_an_earlier_runs_weights(tmp_path):
    train(toy(tmp_path / "first", 40), progress=False)
    fresh = train(toy(tmp_path / "fresh", 1), progress=False)
    continued = train(replace(toy(tmp_path / "continued", 1), init_from=str(tmp_path / "first")), progress=False)
    assert continued["first_loss"] < 0.8 * fresh["first_loss"]
    with pytest.raises(InvalidArgumentError, match="neither a run folder"):
        train(replace(toy(tmp_path / "x", 1), init_from=str(tmp_path / "nothing")), progress=False)
    # a model folder (here a snapshot) is a start too, its embeddings grown by the thinking tokens
    snapshot = tmp_path / "first" / "snapshots" / "step-40"
    grown = train(replace(toy(tmp_path / "think", 1), thinking=True, init_from=str(snapshot)), progress=False)
    assert grown["parameters"] == fresh["parameters"] + 2 * 32  # two rows of the (tied) embeddings, hidden 32
    assert grown["first_loss"] < fresh["first_loss"]


def test_resuming_with_another_configuration_is_refused(tmp_path):
    train(toy(tmp_path), progress=False, until=2)
    with pytest.raises(InvalidArgumentError, match="another configuration"):
        train(toy(tmp_path, steps=30), progress=False)


def test_training_batches_are_worked_train_problems_grouped_by_length():
    tokenizer = build_tokenizer()
    cfg = toy("unused")
    texts = []
    for step in range(BUCKET):
        batch = batch_for_step(step, cfg, tokenizer)
        assert batch["labels"][batch["attention_mask"] == 0].eq(-100).all()  # no loss on padding
        texts += tokenizer.batch_decode(batch["input_ids"], skip_special_tokens=False)
    texts = [t.replace("<pad>", "") for t in texts]
    assert len(set(texts)) == BUCKET * cfg.batch_size
    for text in texts:
        question, solution = re.fullmatch(r"<s><\|user\|>(.*)<\|assistant\|>(.*)</s>", text, re.S).groups()
        assert arith.split_of(question) == "train" and solution.splitlines()[-1].startswith("Answer: ")
    assert batch_for_step(3, cfg, tokenizer)["input_ids"].equal(batch_for_step(3, cfg, tokenizer)["input_ids"])


def test_slip_rate_puts_wrong_results_in_some_training_solutions():
    tokenizer = build_tokenizer()
    clean, slipped = toy("unused"), replace(toy("unused"), slip_rate=0.3)
    texts = [(training_text(0, i, tokenizer), training_text(0, i, tokenizer, 0.3)) for i in range(64)]
    changed = [b for a, b in texts if a != b]
    assert 10 < len(changed) < 64 and texts == [(a, training_text(0, i, tokenizer, 0.3)) for i, (a, _) in
                                                enumerate(texts)]  # seeded: the same slips every time
    for text in changed:  # only the solution changes; its equations still chain
        assert arith.split_of(re.search(r"<\|user\|>(.*)<\|assistant\|>", text).group(1)) == "train"
    assert not batch_for_step(0, clean, tokenizer)["input_ids"].equal(batch_for_step(0, slipped, tokenizer)["input_ids"])


def test_learning_rate_warms_up_then_decays():
    cfg = toy("unused", 100)
    rates = [lr_at(s, cfg) for s in range(100)]
    assert rates[0] < rates[4] == pytest.approx(cfg.lr)
    assert all(a >= b for a, b in zip(rates[5:], rates[6:]))
    assert rates[-1] == pytest.approx(cfg.lr * cfg.min_lr_ratio, rel=0.05)


def test_bad_configuration_names_the_value():
    with pytest.raises(InvalidArgumentError, match="steps=0"):
        TrainConfig(steps=0)
    with pytest.raises(InvalidArgumentError, match="preset='huge'"):
        TrainConfig(preset="huge")
    with pytest.raises(InvalidArgumentError, match="slip_rate=0.5"):
        TrainConfig(slip_rate=0.5)
