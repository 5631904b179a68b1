"""Train the embedded Llama models on arith solutions: CPU, bf16 autocast, seeded, resumable.

The data is an endless, deterministic stream of training-split arith problems (see tasks/arith.py), each
rendered with the chat template as `<s><|user|>QUESTION<|assistant|>SOLUTION</s>`. With `slip_rate` > 0 each
equation's result is off with that probability and the solution works on from it (`arith.with_slips`), so the
model learns to make varied mistakes rather than one memorised wrong fact. The loss is on every token, which
taught the small models the format fastest in our trials. Step `s` always sees the same batch, so a run resumed
from a checkpoint continues exactly where it stopped. Training runs on the CPU by default, or on `device`.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM

from ponder.errors import InvalidArgumentError
from ponder.progress import progress_bar
from ponder.tasks import arith
from ponder.train import traces
from ponder.train.tokenizer import build_tokenizer

# Architectures of the shipped models (and a toy one for tests): LlamaConfig keyword arguments.
PRESETS: dict[str, dict] = {
    "ponder-arith": dict(hidden_size=256, intermediate_size=640, num_hidden_layers=4, num_attention_heads=4),
    "ponder-arith-draft": dict(hidden_size=192, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4),
    "ponder-arith-draft-1l": dict(hidden_size=256, intermediate_size=768, num_hidden_layers=1, num_attention_heads=4),
    "ponder-arith-think": dict(hidden_size=256, intermediate_size=640, num_hidden_layers=4, num_attention_heads=4),
    "ponder-arith-think-draft": dict(hidden_size=192, intermediate_size=512, num_hidden_layers=2,
                                     num_attention_heads=4),
    "toy": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2),
}
BUCKET = 16  # batches drawn together and grouped by length, so little of each batch is padding


@dataclass
class TrainConfig:
    preset: str = "ponder-arith"
    out: str = "runs/ponder-arith"
    steps: int = 6000
    batch_size: int = 16
    lr: float = 2e-3
    min_lr_ratio: float = 0.05
    warmup: int = 200
    weight_decay: float = 0.1
    seed: int = 0
    max_positions: int = 512
    save_every: int = 500
    threads: int | None = None
    bf16: bool = True
    # start from these weights (fresh optimizer and schedule): a finished run folder, or a model folder in Hugging
    # Face format (the shipped ponder-arith, say), whose vocabulary is grown by the thinking tokens if need be
    init_from: str | None = None
    slip_rate: float = 0.0  # the chance that a training solution's equation has a wrong result (see arith.with_slips)
    thinking: bool = False  # thinking traces (train/traces.py) and the thinking tokenizer, not plain solutions
    device: str = "cpu"

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise InvalidArgumentError(f"preset={self.preset!r} is not one of {sorted(PRESETS)}")
        for name in ("steps", "batch_size", "save_every"):
            if getattr(self, name) < 1:
                raise InvalidArgumentError(f"{name}={getattr(self, name)} must be >= 1")
        if not self.lr > 0:
            raise InvalidArgumentError(f"lr={self.lr} must be > 0")
        if not 0 <= self.slip_rate < 0.5:  # at 0.5 a wrong result would be as likely as the right one
            raise InvalidArgumentError(f"slip_rate={self.slip_rate} must be in [0, 0.5)")


def model_config(cfg: TrainConfig, tokenizer) -> LlamaConfig:
    arch = PRESETS[cfg.preset]
    return LlamaConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=cfg.max_positions,
        num_key_value_heads=arch["num_attention_heads"],
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **arch,
    )


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to min_lr_ratio * lr at the last step."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def training_text(seed: int, index: int, tokenizer, slip_rate: float = 0.0) -> str:
    """The `index`-th plain training text of `seed`: a train-split problem and its (possibly slipped) solution."""
    problem = arith.problem("train", seed, index)
    solution = arith.with_slips(problem.solution, slip_rate, random.Random(f"slip:{seed}:{index}"))
    messages = problem.prompt() + [{"role": "assistant", "content": solution}]
    return tokenizer.apply_chat_template(messages, tokenize=False)


def training_example(seed: int, index: int, tokenizer, slip_rate: float, thinking: bool) -> traces.Segments:
    """The `index`-th training example of `seed` as (text, learned) pieces. A plain one is learnt whole (the
    loss on every token taught the small models the format fastest); a thinking one is learnt after its prompt,
    but for what the engine writes (a forced end marker)."""
    if not thinking:
        return [(training_text(seed, index, tokenizer, slip_rate), True)]
    problem = arith.problem("train", seed, index)
    enable, segments = traces.example(problem, random.Random(f"trace:{seed}:{index}"),
                                      traces.TraceConfig(slip=slip_rate or traces.TraceConfig.slip))
    prompt = tokenizer.apply_chat_template(problem.prompt(), tokenize=False, add_generation_prompt=True,
                                           enable_thinking=enable)
    return [(prompt, False), *segments, (tokenizer.eos_token, True)]


@functools.lru_cache(maxsize=1)  # the BUCKET steps of one block in a row share it
def _block(block: int, seed: int, batch_size: int, slip_rate: float, thinking: bool, tokenizer):
    """BUCKET batches of training examples, grouped by length, in a seeded order."""
    first = block * BUCKET * batch_size
    examples = sorted((training_example(seed, first + i, tokenizer, slip_rate, thinking)
                       for i in range(BUCKET * batch_size)), key=lambda e: sum(len(t) for t, _ in e))
    chunks = [examples[i:i + batch_size] for i in range(0, len(examples), batch_size)]
    random.Random(f"order:{seed}:{block}").shuffle(chunks)
    return chunks


def batch_for_step(step: int, cfg: TrainConfig, tokenizer) -> dict[str, torch.Tensor]:
    """The batch of step `step`: a pure function of (step, seed)."""
    block, slot = divmod(step, BUCKET)
    rows = []
    for example in _block(block, cfg.seed, cfg.batch_size, cfg.slip_rate, cfg.thinking, tokenizer)[slot]:
        ids, labels = [], []
        for text, learned in example:  # character-level: pieces tokenized apart join as the whole would
            piece = tokenizer.encode(text, add_special_tokens=False)
            ids += piece
            labels += piece if learned else [-100] * len(piece)
        rows.append((ids[:cfg.max_positions], labels[:cfg.max_positions]))
    width = max(len(ids) for ids, _ in rows)
    pad = lambda xs, fill: xs + [fill] * (width - len(xs))  # noqa: E731  (right padding)
    return {"input_ids": torch.tensor([pad(ids, tokenizer.pad_token_id) for ids, _ in rows]),
            "attention_mask": torch.tensor([pad([1] * len(ids), 0) for ids, _ in rows]),
            "labels": torch.tensor([pad(labels, -100) for _, labels in rows])}


def train(cfg: TrainConfig, progress: bool = True, until: int | None = None) -> dict:
    """Train (or resume) the run in `cfg.out`; export the final model there in Hugging Face format.

    `until` stops after that step with a checkpoint, as a killed run would (a later call resumes it).
    Returns a summary: parameters, steps, tokens, seconds, first and last loss.
    """
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    transformers.utils.logging.disable_progress_bar()  # no "Writing model shards" bar at every snapshot
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(cfg.thinking)
    torch.manual_seed(cfg.seed)
    model = LlamaForCausalLM(model_config(cfg, tokenizer))  # built on the CPU, so a seed gives the same weights
    if cfg.init_from:
        model.load_state_dict(_initial_weights(cfg.init_from, len(tokenizer)))
    model.to(cfg.device)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95))

    state = {"step": 0, "tokens": 0, "seconds": 0.0, "losses": []}
    ckpt = out / "checkpoint.pt"
    if ckpt.exists():
        saved = torch.load(ckpt, weights_only=False, map_location=cfg.device)
        if _identity(saved["config"]) != _identity(asdict(cfg)):
            raise InvalidArgumentError(f"{ckpt} was written by another configuration; use a new --out or delete it")
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        state = saved["state"]

    def save_checkpoint():
        tmp = ckpt.with_suffix(".tmp")
        torch.save({"config": asdict(cfg), "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "state": state}, tmp)
        os.replace(tmp, ckpt)  # atomic: a kill mid-save leaves the previous checkpoint intact
        export(model, out / "snapshots" / f"step-{state['step']}", cfg.thinking)

    model.train()
    started = time.perf_counter() - state["seconds"]
    with progress_bar("train", cfg.steps, enabled=progress, completed=state["step"], loss=float("nan"), tok_s=0.0,
                      status="loss {task.fields[loss]:.3f}  {task.fields[tok_s]:,.0f} tok/s") as update:
        for step in range(state["step"], min(cfg.steps, until or cfg.steps)):
            batch = {k: v.to(cfg.device) for k, v in batch_for_step(step, cfg, tokenizer).items()}
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, cfg)
            with torch.autocast(torch.device(cfg.device).type, dtype=torch.bfloat16, enabled=cfg.bf16):
                loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

            state["step"] = step + 1
            state["tokens"] += int(batch["attention_mask"].sum())
            state["seconds"] = time.perf_counter() - started
            state["losses"].append(round(loss.item(), 4))
            tok_s = state["tokens"] / max(state["seconds"], 1e-9)
            update(completed=step + 1, loss=loss.item(), tok_s=tok_s)
            if not progress and state["step"] % 100 == 0:  # no progress bar: a plain log line
                print(f"step {state['step']}/{cfg.steps} loss {loss.item():.4f} {tok_s:,.0f} tok/s", flush=True)
            if state["step"] % cfg.save_every == 0 or state["step"] in (cfg.steps, until):
                save_checkpoint()

    if state["step"] == cfg.steps:
        export(model, out, cfg.thinking)
    last = state["losses"][-50:]
    summary = {
        "preset": cfg.preset,
        "parameters": sum(p.numel() for p in model.parameters()),
        "steps": state["step"],
        "tokens": state["tokens"],
        "seconds": round(state["seconds"], 1),
        "first_loss": state["losses"][0] if state["losses"] else None,
        "last_loss": round(sum(last) / len(last), 4) if last else None,
        "config": asdict(cfg),
    }
    (out / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _initial_weights(source: str, vocab: int) -> dict[str, torch.Tensor]:
    """The float32 weights to start from: a run folder's checkpoint, or a Hugging Face model folder's weights,
    its embeddings grown to `vocab` (new rows at the mean of the old, as transformers' resize does)."""
    path = Path(source)
    if (path / "checkpoint.pt").is_file():
        return torch.load(path / "checkpoint.pt", weights_only=False, map_location="cpu")["model"]
    if not (path / "config.json").is_file():
        raise InvalidArgumentError(f"init_from={source!r} is neither a run folder (checkpoint.pt) nor a model folder")
    model = LlamaForCausalLM.from_pretrained(path, dtype=torch.float32)
    if model.config.vocab_size != vocab:
        verbosity = transformers.logging.get_verbosity()
        transformers.logging.set_verbosity_error()  # not its note on how the new rows are initialised
        model.resize_token_embeddings(vocab)
        transformers.logging.set_verbosity(verbosity)
    return model.state_dict()


def _identity(config: dict) -> dict:
    """What must match for a checkpoint to be resumed: all but where and on how many threads it runs."""
    return {k: v for k, v in config.items() if k not in ("device", "threads")}


def export(model: LlamaForCausalLM, out: Path, thinking: bool = False) -> None:
    """Hugging Face format: config.json, 16-bit model.safetensors, tokenizer files with the chat template."""
    copy.deepcopy(model).to("cpu", torch.bfloat16).save_pretrained(out)  # a copy: training goes on in float32
    # a fresh tokenizer: the training one keeps the truncation and right padding of its batch calls
    build_tokenizer(thinking).save_pretrained(out)
