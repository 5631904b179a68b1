from transformers import AutoTokenizer

from ponder.train.tokenizer import build_tokenizer

TEXTS = ["Héllo wörld — naïve café", "日本語のテキスト 😀", "tabs\tand\nnewlines  double  spaces ", "",
         "Answer: 123\n45*6=270", " leading space", "Ωμέγα ∑ ∫ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢"]


def test_any_text_round_trips(tmp_path):
    tok = build_tokenizer()
    tok.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    for t in (tok, loaded):
        for text in TEXTS:
            assert t.decode(t.encode(text, add_special_tokens=False)) == text


def test_every_digit_is_its_own_token_and_bytes_fall_back():
    tok = build_tokenizer()
    ids = tok.encode("1234567890", add_special_tokens=False)
    assert len(ids) == 10 and len(set(ids)) == 10
    assert tok.convert_ids_to_tokens(tok.encode("a b", add_special_tokens=False)) == ["a", "\u2581", "b"]
    assert tok.convert_ids_to_tokens(tok.encode("é", add_special_tokens=False)) == ["<0xC3>", "<0xA9>"]
    assert tok.convert_ids_to_tokens(tok.encode("\n", add_special_tokens=False)) == ["<0x0A>"]


def test_chat_template_wraps_turns_with_special_tokens():
    tok = build_tokenizer()
    messages = [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A"}]
    assert tok.apply_chat_template(messages, tokenize=False) == "<s><|user|>Q?<|assistant|>A</s>"
    prompt = tok.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True)
    assert prompt == "<s><|user|>Q?<|assistant|>"
    ids = tok.encode(prompt, add_special_tokens=False)
    assert tok.convert_ids_to_tokens(ids) == ["<s>", "<|user|>", "Q", "?", "<|assistant|>"]
