"""The engine runs any causal LM that AutoModelForCausalLM builds: tiny random Llama, Qwen2, Qwen3, Mistral and
Mixtral (mixture of experts) models, with grouped-query attention, give exactly `generate`'s greedy tokens, on the
lean forward pass (engine/lean.py) where the architecture has one and on transformers' own."""

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaConfig, MistralConfig, MixtralConfig, Qwen2Config, Qwen3Config

from ponder.engine import LLMEngine, SamplingParams
from ponder.engine.lean import LeanModel
from ponder.train.tokenizer import build_tokenizer

TINY = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            max_position_embeddings=256)
CONFIGS = {
    "llama": LlamaConfig(**TINY),
    "llama-bias": LlamaConfig(**TINY, attention_bias=True, mlp_bias=True),
    "qwen2": Qwen2Config(**TINY),
    "qwen3": Qwen3Config(**TINY, head_dim=16),
    "mistral": MistralConfig(**TINY, sliding_window=None),
    "mixtral": MixtralConfig(**TINY, num_local_experts=4, num_experts_per_tok=2, sliding_window=None),
    "mistral-window": MistralConfig(**TINY, sliding_window=8),
}
LEAN = {"llama", "llama-bias", "qwen2", "qwen3", "mistral"}  # the rest keep transformers' forward


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "transformers"])
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_greedy_equals_generate_on_other_architectures(name, lean):
    tokenizer = build_tokenizer()
    config = CONFIGS[name]
    config.vocab_size = len(tokenizer)
    config.eos_token_id, config.pad_token_id = tokenizer.eos_token_id, tokenizer.pad_token_id
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config).eval()
    with torch.no_grad():  # sharper than the default init, so the greedy path is not a tie-break lottery
        model.get_output_embeddings().weight.mul_(8)
    engine = LLMEngine(model, tokenizer, lean=lean)
    assert isinstance(engine.runner.net, LeanModel) == (lean and name in LEAN)
    prompts = ["Mia has 3 pens.", "A bus leaves with 40 people. At the next stop 7 get off.", "Hi"]
    outputs = engine.generate(prompts, SamplingParams(n=2, temperature=0, max_tokens=24))
    for text, out in zip(prompts, outputs):
        ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")
        reference = model.generate(**ids, max_new_tokens=24, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        expected = reference[0, ids["input_ids"].shape[1]:].tolist()
        assert [s.token_ids for s in out.samples] == [expected, expected]
