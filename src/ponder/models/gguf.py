"""Export a Llama-architecture model folder to GGUF, so llama.cpp (and llama-cpp-python's server) runs it.

The mapping follows llama.cpp's own convert_hf_to_gguf.py for Llama: tensor names from the `gguf` package's
map, query and key rows permuted from Hugging Face's rotate-half RoPE layout to llama.cpp's interleaved one,
and the tokenizer written as a SentencePiece-style ("llama") vocabulary. That vocabulary is only lossless for
a tokenizer like the embedded models' (DESIGN.md): BPE without merges, byte fallback, "▁" for space; others
are refused with a pointer to convert_hf_to_gguf.py rather than converted wrongly.
"""

from __future__ import annotations

import json
from pathlib import Path

from ponder.errors import InvalidArgumentError
from ponder.models import resolve

OUTTYPES = ("f32", "f16", "bf16")


def export_gguf(model: str, out: str | Path, outtype: str = "f32") -> dict:
    """Write `model` (a shipped name or a folder) to the GGUF file `out`; returns what was written."""
    try:
        import gguf
        import numpy as np
        import torch
        from safetensors.torch import load_file
    except ImportError:
        raise InvalidArgumentError("ponder export gguf needs the gguf package: pip install 'ponder[export]'") from None
    if outtype not in OUTTYPES:
        raise InvalidArgumentError(f"unknown --outtype {outtype!r}; choose from {list(OUTTYPES)}")
    folder = resolve(model)
    config = json.loads((folder / "config.json").read_text())
    if config.get("architectures") != ["LlamaForCausalLM"]:
        raise InvalidArgumentError(f"{model}: ponder exports LlamaForCausalLM only, not {config.get('architectures')}; "
                                   "use llama.cpp's convert_hf_to_gguf.py")
    rope = config.get("rope_parameters") or {"rope_theta": config.get("rope_theta", 10000.0), "rope_type": "default"}
    if rope.get("rope_type", "default") != "default":
        raise InvalidArgumentError(f"{model}: rope type {rope['rope_type']!r} is not exported; "
                                   "use convert_hf_to_gguf.py")
    weights = sorted(folder.glob("*.safetensors"))
    if not weights:
        raise InvalidArgumentError(f"{model}: no .safetensors weights in {folder}")

    heads, kv_heads = config["num_attention_heads"], config.get("num_key_value_heads", config["num_attention_heads"])
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    layers = config["num_hidden_layers"]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(out, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA])
    writer.add_name(folder.name)
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(layers)
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float(rope["rope_theta"]))
    writer.add_layer_norm_rms_eps(float(config["rms_norm_eps"]))
    writer.add_vocab_size(config["vocab_size"])
    file_type = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
                 "bf16": gguf.LlamaFileType.MOSTLY_BF16}[outtype]
    writer.add_file_type(file_type)
    _add_vocab(writer, gguf, folder, config)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, layers)
    tensors = {}
    for path in weights:
        tensors.update(load_file(path))
    if config.get("tie_word_embeddings"):
        tensors.pop("lm_head.weight", None)  # llama.cpp reads token_embd for a missing output.weight
    for name, tensor in tensors.items():
        if name.endswith("rotary_emb.inv_freq"):
            continue
        gguf_name = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise InvalidArgumentError(f"{model}: tensor {name!r} has no GGUF name for a Llama model")
        if name.endswith("q_proj.weight"):
            tensor = _unrotate(tensor, heads)
        elif name.endswith("k_proj.weight"):
            tensor = _unrotate(tensor, kv_heads)
        data = tensor.to(torch.float32).numpy()
        if data.ndim == 1 or outtype == "f32":  # norms stay f32, as llama.cpp expects
            writer.add_tensor(gguf_name, data)
        elif outtype == "f16":
            writer.add_tensor(gguf_name, data.astype(np.float16))
        else:
            writer.add_tensor(gguf_name, gguf.quants.quantize(data, gguf.GGMLQuantizationType.BF16),
                              raw_dtype=gguf.GGMLQuantizationType.BF16)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return {"model": model, "out": str(out), "outtype": outtype, "tensors": len(tensors),
            "parameters": sum(t.numel() for t in tensors.values()), "bytes": out.stat().st_size}


def _unrotate(weight, heads: int):
    """Rows of a query/key projection from Hugging Face's half-split rotary layout to llama.cpp's pairs
    (convert_hf_to_gguf.py's LlamaModel.permute)."""
    rows = weight.shape[0]
    return weight.reshape(heads, 2, rows // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def _add_vocab(writer, gguf, folder: Path, config: dict) -> None:
    """The tokenizer as llama.cpp's SentencePiece-style vocabulary, exactly when that is lossless."""
    spec = json.loads((folder / "tokenizer.json").read_text())
    bpe = spec["model"]
    normalizer = spec.get("normalizer") or {}
    if (bpe.get("type") != "BPE" or bpe.get("merges") or not bpe.get("byte_fallback")
            or normalizer.get("type") != "Replace" or normalizer.get("content") != "▁" or spec.get("pre_tokenizer")):
        raise InvalidArgumentError(f"{folder.name}: only a merge-free byte-fallback vocabulary with '▁' for space "
                                   "(the embedded models') exports losslessly here; use convert_hf_to_gguf.py")
    special = {t["id"] for t in spec.get("added_tokens", []) if t.get("special")}
    by_id = {i: text for text, i in bpe["vocab"].items()}
    by_id.update({t["id"]: t["content"] for t in spec.get("added_tokens", [])})
    size = config["vocab_size"]
    tokens, types = [], []
    for i in range(size):
        text = by_id.get(i, f"[PAD{i}]")
        tokens.append(text)
        if i not in by_id:
            types.append(gguf.TokenType.UNUSED)
        elif text == bpe.get("unk_token"):
            types.append(gguf.TokenType.UNKNOWN)
        elif i in special:
            types.append(gguf.TokenType.CONTROL)
        elif len(text) == 6 and text.startswith("<0x") and text.endswith(">"):
            types.append(gguf.TokenType.BYTE)
        else:
            types.append(gguf.TokenType.NORMAL)
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * size)  # no merges: every piece is one character, scores never compare
    writer.add_token_types(types)
    writer.add_add_space_prefix(False)  # the HF normalizer prepends nothing
    post = spec.get("post_processor") or {}
    adds_bos = any("SpecialToken" in piece for piece in post.get("single", []))
    writer.add_add_bos_token(adds_bos)
    writer.add_add_eos_token(False)
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
    for key, add in (("bos_token", writer.add_bos_token_id), ("eos_token", writer.add_eos_token_id),
                     ("unk_token", writer.add_unk_token_id), ("pad_token", writer.add_pad_token_id)):
        text = tokenizer_config.get(key)
        if isinstance(text, str) and text in bpe["vocab"]:
            add(bpe["vocab"][text])
    template = folder / "chat_template.jinja"
    chat_template = template.read_text() if template.is_file() else tokenizer_config.get("chat_template")
    if chat_template:
        writer.add_chat_template(chat_template)
