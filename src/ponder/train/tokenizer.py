"""The character-level tokenizer of the embedded models.

SentencePiece/Llama-2 style so that it converts to GGUF for llama.cpp without loss: a BPE model with no merges
(every printable ASCII character is one token, so every digit is its own token), byte fallback through the 256
`<0xNN>` tokens for everything else (newline and any non-ASCII text), and "▁" for space. No dummy prefix is
added, so decode(encode(text)) == text for any text that does not itself contain "▁".
"""

from __future__ import annotations

from tokenizers import Tokenizer, decoders, models, normalizers
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>", "<|user|>", "<|assistant|>"]
SPACE = "\u2581"  # ▁

# A one-turn (or multi-turn) chat; the assistant's turn ends with </s>, which is where generation stops.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ '<|user|>' + message['content'] }}"
    "{% elif message['role'] == 'assistant' %}{{ '<|assistant|>' + message['content'] + eos_token }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)
# The thinking models' template (Qwen3's convention): the generation prompt opens the think block, and with
# enable_thinking=False closes it empty, so the model answers straight away.
THINK_TOKENS = ["<think>", "</think>"]
THINKING_CHAT_TEMPLATE = CHAT_TEMPLATE.replace(
    "{{ '<|assistant|>' }}{% endif %}",
    "{{ '<|assistant|><think>\\n' }}"
    "{% if enable_thinking is defined and not enable_thinking %}{{ '\\n</think>\\n\\n' }}{% endif %}{% endif %}")


def build_tokenizer(thinking: bool = False) -> PreTrainedTokenizerFast:
    """The embedded models' tokenizer; `thinking` adds <think> and </think> as tokens of their own (after every
    other token, so the ids of the plain models' vocabulary stay the same) and the thinking chat template."""
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for byte in range(256):
        vocab[f"<0x{byte:02X}>"] = len(vocab)
    for char in [SPACE] + [chr(c) for c in range(0x21, 0x7F)]:
        vocab[char] = len(vocab)

    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Replace(" ", SPACE)
    tok.decoder = decoders.Sequence([decoders.Replace(SPACE, " "), decoders.ByteFallback(), decoders.Fuse()])
    tok.add_special_tokens(SPECIAL_TOKENS)
    if thinking:  # added tokens, one id each, but not special: decoded text keeps them, as Qwen3's does
        tok.add_tokens(THINK_TOKENS)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        chat_template=THINKING_CHAT_TEMPLATE if thinking else CHAT_TEMPLATE,
        padding_side="left",  # decoder-only generation pads on the left
        clean_up_tokenization_spaces=False,
    )
