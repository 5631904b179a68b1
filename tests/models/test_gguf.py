"""`ponder export gguf`: the file llama.cpp reads holds the same model. Checked through transformers' own GGUF
reader (an independent implementation of the format and of llama.cpp's rotary layout): the same tokens for the
same text, the same logits."""

import json
import subprocess
import sys

import pytest
import torch

from ponder.models import resolve

pytest.importorskip("gguf")
pytest.importorskip("accelerate")  # transformers' GGUF loading needs it

TEXT = "<s><|user|>Tom has 3 apples and buys 12 more. How many?  é€<|assistant|>3+12=15\nAnswer: 15</s>"


@pytest.mark.parametrize("outtype, tolerance", [("f32", 1e-4), ("bf16", 1e-4), ("f16", 1e-3)])
def test_the_exported_file_is_the_same_model(tmp_path, outtype, tolerance):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "ponder-arith.gguf"
    proc = subprocess.run([sys.executable, "-m", "ponder.cli", "export", "gguf", "ponder-arith", str(out),
                           "--outtype", outtype], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    written = json.loads(proc.stdout)
    assert written["parameters"] > 3_000_000 and written["bytes"] == out.stat().st_size

    folder = resolve("ponder-arith")
    ours, theirs = AutoTokenizer.from_pretrained(folder), AutoTokenizer.from_pretrained(tmp_path, gguf_file=out.name)
    ids = ours(TEXT, add_special_tokens=False).input_ids
    assert theirs(TEXT, add_special_tokens=False).input_ids == ids  # byte fallback for é and € included
    assert theirs.decode(ids) == TEXT

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    exported = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=out.name, dtype=torch.float32)
    with torch.no_grad():
        a, b = model(torch.tensor([ids])).logits, exported(torch.tensor([ids])).logits
    assert (a - b).abs().max().item() < tolerance
    assert torch.equal(a.argmax(-1), b.argmax(-1))


def test_what_cannot_be_exported_is_a_clear_error(tmp_path):
    for args, needle in ((["gguf", "ponder-arith-orm"], "LlamaForCausalLM only"),
                         (["ggml", "ponder-arith"], "unknown format 'ggml'"),
                         (["gguf", "ponder-arith", "--outtype", "q4_0"], "unknown --outtype")):
        proc = subprocess.run([sys.executable, "-m", "ponder.cli", "export", args[0], args[1], str(tmp_path / "x"),
                               *args[2:]], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and needle in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "x").exists()
