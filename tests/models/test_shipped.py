"""The shipped models: Hugging Face format, loadable by the Auto classes, small, and able to do the task."""

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from ponder.errors import InvalidArgumentError, ModelNotFoundError
from ponder.models import LANGUAGE_MODELS, resolve, sampling_defaults
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
    prompts = [tokenizer.apply_chat_template(p.prompt(), add_generation_prompt=True, tokenize=False)
               for p in problems]
    batch = tokenizer(prompts, add_special_tokens=False, padding=True, return_tensors="pt")
    thinks = "<think>" in tokenizer.get_vocab()  # a thinking model thinks first: it needs more tokens
    out = model.float().generate(**batch, max_new_tokens=120 if thinks else 40, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
    texts = tokenizer.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
    if thinks:  # the answer is read after the think block, which the chat template opened
        assert all("</think>" in t for t in texts)
        texts = [t.split("</think>")[-1] for t in texts]
    assert all(arith.extract_answer(t) is not None for t in texts)  # the format is learnt
    assert sum(arith.is_correct(t, p) for t, p in zip(texts, problems)) >= len(problems) // 2  # and some arithmetic


def test_the_drafts_are_at_least_three_times_smaller():
    sizes = {name: AutoModelForCausalLM.from_pretrained(resolve(name)).num_parameters() for name in LANGUAGE_MODELS}
    assert 2.5e6 <= sizes["ponder-arith"] <= 3.5e6
    assert sizes["ponder-arith"] >= 3 * sizes["ponder-arith-draft"]
    assert sizes["ponder-arith-think"] >= 3 * sizes["ponder-arith-think-draft"]


def test_the_thinking_model_has_think_tokens_and_a_template_that_can_turn_thinking_off():
    from ponder.reasoning import markers_of

    tokenizer = AutoTokenizer.from_pretrained(resolve("ponder-arith-think"))
    assert markers_of(tokenizer) is not None
    assert len(tokenizer.encode("<think></think>", add_special_tokens=False)) == 2  # one token each
    messages = [{"role": "user", "content": "Mia has 3 pens. How many pens does she have now?"}]
    on = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    off = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False, enable_thinking=False)
    assert on.endswith("<|assistant|><think>\n") and off == on + "\n</think>\n\n"  # Qwen3's convention


def test_unknown_model_name_is_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match="ponder-arith-huge"):
        resolve("ponder-arith-huge")
    assert resolve(str(Path(resolve("ponder-arith")))) == resolve("ponder-arith")


def test_the_reward_model_loads_with_auto_classes_and_ranks_the_policys_right_samples_higher(target):
    import asyncio

    from transformers import AutoModelForSequenceClassification

    from ponder.backends.base import SamplingParams, generate
    from ponder.train.orm import auc
    from ponder.verifiers.orm import RewardModel

    path = resolve("ponder-arith-orm")
    assert (path / "card.md").is_file() and (path / "model.safetensors").stat().st_size < 10 * 2**20
    assert AutoModelForSequenceClassification.from_pretrained(path).config.num_labels == 1
    orm = RewardModel("ponder-arith-orm")
    scores, labels = [], []
    for problem in arith.problems(5, 24)[:16]:  # held-out problems, the policy's own samples
        samples = asyncio.run(generate(target, problem.prompt(), SamplingParams(n=8, max_tokens=128, seed=3))).samples
        scores += orm.probabilities(problem.prompt(), [s.text for s in samples])
        labels += [arith.is_correct(s.text, problem) for s in samples]
    assert all(0 <= p <= 1 for p in scores) and 0 < sum(labels) < len(labels)
    assert auc(scores, labels) > 0.6  # held out at training: 0.73


def test_sampling_defaults_come_from_the_models_generation_config(tmp_path):
    """As vLLM's --generation-config auto: the sampling fields a model's generation_config.json sets, greedy where it
    says do_sample false, nothing where it has no such file or is not on this machine."""
    (tmp_path / "config.json").write_text("{}")
    assert sampling_defaults(str(tmp_path)) == {}
    qwen3 = {"do_sample": True, "temperature": 0.6, "top_p": 0.95, "top_k": 20, "eos_token_id": [151645]}
    (tmp_path / "generation_config.json").write_text(json.dumps(qwen3))
    assert sampling_defaults(str(tmp_path)) == {"temperature": 0.6, "top_p": 0.95, "top_k": 20}
    (tmp_path / "generation_config.json").write_text(json.dumps({"do_sample": False, "temperature": 0.6}))
    assert sampling_defaults(str(tmp_path)) == {"temperature": 0.0}
    (tmp_path / "generation_config.json").write_text("{not json")
    with pytest.raises(InvalidArgumentError, match="generation_config.json"):
        sampling_defaults(str(tmp_path))
    assert sampling_defaults("Qwen/Qwen3-8B") == {}  # a server's model name: the server applies its own
    assert sampling_defaults("ponder-arith") == {}  # ponder's own default, 0.7, applies
    assert set(sampling_defaults("ponder-arith-think")) == {"temperature"}
