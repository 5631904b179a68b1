"""The shipped models: Hugging Face format, loadable by the Auto classes, small, and able to do the task."""

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from ponder.errors import ModelNotFoundError
from ponder.models import LANGUAGE_MODELS, resolve
from ponder.tasks import arith


@pytest.mark.parametrize("name", LANGUAGE_MODELS)
def test_shipped_model_loads_with_auto_classes_and_answers(name):
    path = resolve(name)
    for file in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "card.md"):
        assert (path / file).is_file(), file
    assert (path / "model.safetensors").stat().st_size < 10 * 2**20
    model = AutoModelForCausalLM.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert model.config.model_type == "llama" and next(model.parameters()).dtype == torch.bfloat16

    problems = [p for p in arith.problems(11, 60) if p.level == 1]
    prompts = [tokenizer.apply_chat_template(p.messages(), add_generation_prompt=True, tokenize=False)
               for p in problems]
    batch = tokenizer(prompts, add_special_tokens=False, padding=True, return_tensors="pt")
    out = model.float().generate(**batch, max_new_tokens=40, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    texts = tokenizer.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
    assert all(arith.extract_answer(t) is not None for t in texts)  # the format is learnt
    assert sum(arith.is_correct(t, p) for t, p in zip(texts, problems)) >= len(problems) // 2  # and some arithmetic


def test_the_draft_is_at_least_three_times_smaller():
    sizes = {name: AutoModelForCausalLM.from_pretrained(resolve(name)).num_parameters() for name in LANGUAGE_MODELS}
    assert 2.5e6 <= sizes["ponder-arith"] <= 3.5e6
    assert sizes["ponder-arith"] >= 3 * sizes["ponder-arith-draft"]


def test_unknown_model_name_is_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match="ponder-arith-huge"):
        resolve("ponder-arith-huge")
    assert resolve(str(Path(resolve("ponder-arith")))) == resolve("ponder-arith")


def test_the_reward_model_loads_with_auto_classes_and_prefers_right_solutions():
    from transformers import AutoModelForSequenceClassification

    from ponder.verifiers.orm import RewardModel

    path = resolve("ponder-arith-orm")
    assert (path / "card.md").is_file() and (path / "model.safetensors").stat().st_size < 10 * 2**20
    assert AutoModelForSequenceClassification.from_pretrained(path).config.num_labels == 1
    orm = RewardModel("ponder-arith-orm")
    problems = [p for p in arith.problems(5, 40) if p.level >= 2][:12]
    right = [orm.probabilities(p.messages(), [p.solution])[0] for p in problems]
    # the same solutions with the last equation's result off by one, carried into the answer
    wrong = []
    for p in problems:
        *head, last, _ = p.solution.splitlines()
        value = int(last.split("=")[1]) + 1
        wrong.append(orm.probabilities(p.messages(), ["\n".join(head + [f"{last.split('=')[0]}={value}",
                                                                          f"Answer: {value}"])])[0])
    assert sum(r > w for r, w in zip(right, wrong)) >= 9  # a right solution outscores its slipped twin
