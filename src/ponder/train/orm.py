"""Train the outcome reward model (ORM) that ships as `ponder-arith-orm`: a tiny `LlamaForSequenceClassification`
that reads a question and a candidate solution and gives the probability that the solution's answer is right.

Data: the policy model's own samples (`ponder-arith` at T=0.7, on ponder's engine) for training-split arith
problems, each labelled by exact grading against the reference answer; so the ORM learns the mistakes that this
policy makes. One problem in ten is held out (with all its samples) to measure the ORM: accuracy, and AUC (how
often a right solution outscores a wrong one of the same problem set). The samples are kept in `samples.jsonl`
in the run folder, so a second run reuses them.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import transformers
from transformers import LlamaConfig, LlamaForSequenceClassification

from ponder.errors import InvalidArgumentError
from ponder.progress import progress_bar
from ponder.tasks import arith
from ponder.train.tokenizer import build_tokenizer

ARCHITECTURE = dict(hidden_size=128, intermediate_size=384, num_hidden_layers=2, num_attention_heads=4)


@dataclass
class OrmConfig:
    out: str = "runs/ponder-arith-orm"
    policy: str = "ponder-arith"  # whose samples are labelled
    problems: int = 3000
    samples: int = 8  # per problem
    epochs: int = 3
    batch_size: int = 32
    lr: float = 2e-3
    seed: int = 1  # of the problems (training-split, a different stream from the policy's own training data)
    threads: int | None = None
    device: str = "cpu"

    def __post_init__(self):
        for name in ("problems", "samples", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise InvalidArgumentError(f"{name}={getattr(self, name)} must be >= 1")
        if self.problems < 10:
            raise InvalidArgumentError(f"problems={self.problems} must be >= 10 (one in ten is held out)")


def text_of(tokenizer, question: str, solution: str) -> str:
    """What the ORM reads: the conversation of a question and a candidate solution, in the chat template."""
    return tokenizer.apply_chat_template([{"role": "user", "content": question},
                                          {"role": "assistant", "content": solution}], tokenize=False)


def collect(cfg: OrmConfig, progress: bool) -> list[dict]:
    """The policy's labelled samples: {"problem", "question", "solution", "label"}; cached in the run folder."""
    path = Path(cfg.out) / "samples.jsonl"
    key = {"policy": cfg.policy, "problems": cfg.problems, "samples": cfg.samples, "seed": cfg.seed}
    if path.exists():
        lines = path.read_text().splitlines()
        if lines and json.loads(lines[0]) == key:
            return [json.loads(line) for line in lines[1:]]
    from ponder.engine import LLMEngine, SamplingParams
    from ponder.models import resolve

    engine = LLMEngine.from_pretrained(resolve(cfg.policy), device=cfg.device, seed=cfg.seed)
    problems = [arith.problem("train", cfg.seed, i) for i in range(cfg.problems)]
    rows, chunk = [], 100
    with progress_bar("sample", len(problems), enabled=progress) as update:
        for start in range(0, len(problems), chunk):
            part = problems[start:start + chunk]
            prompts = [engine.tokenizer.apply_chat_template(p.prompt(), add_generation_prompt=True, tokenize=False)
                       for p in part]
            for problem, out in zip(part, engine.generate(prompts, SamplingParams(n=cfg.samples, max_tokens=256))):
                for sample in out.samples:
                    rows.append({"problem": problem.id, "question": problem.question, "solution": sample.text,
                                 "label": int(arith.is_correct(sample.text, problem))})
            update(advance=len(part))
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(json.dumps(r) for r in [key] + rows) + "\n")
    os.replace(tmp, path)
    return rows


def auc(scores: list[float], labels: list[int]) -> float:
    """The probability that a random right solution outscores a random wrong one (ties count half): the
    Mann-Whitney U statistic over the product of the two counts."""
    from scipy.stats import mannwhitneyu

    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    if not pos or not neg:
        return float("nan")
    return float(mannwhitneyu(pos, neg).statistic / (len(pos) * len(neg)))


@torch.inference_mode()
def predict(model, tokenizer, texts: list[str], batch_size: int = 64) -> list[float]:
    """P(right) for each text."""
    model.eval()
    out = []
    for i in range(0, len(texts), batch_size):
        enc = tokenizer(texts[i:i + batch_size], add_special_tokens=False, padding=True, return_tensors="pt")
        out += torch.sigmoid(model(**enc.to(model.device)).logits[:, 0].float()).tolist()
    return out


def train_orm(cfg: OrmConfig, progress: bool = True) -> dict:
    """Sample, label, train and export the ORM into `cfg.out`; returns its held-out figures."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    transformers.utils.logging.disable_progress_bar()
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows = collect(cfg, progress)
    sampled_s = time.perf_counter() - started
    tokenizer = build_tokenizer()
    tokenizer.padding_side = "left"  # the score is read at the last position
    held_out = {f"arith-train-{cfg.seed}-{i}" for i in range(0, cfg.problems, 10)}
    train_rows = [r for r in rows if r["problem"] not in held_out]
    test_rows = [r for r in rows if r["problem"] in held_out]

    torch.manual_seed(cfg.seed)
    config = LlamaConfig(vocab_size=len(tokenizer), max_position_embeddings=512, num_labels=1,
                         num_key_value_heads=ARCHITECTURE["num_attention_heads"], tie_word_embeddings=False,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, **ARCHITECTURE)
    model = LlamaForSequenceClassification(config).to(cfg.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    steps = cfg.epochs * math.ceil(len(train_rows) / cfg.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=steps, pct_start=0.05)
    rng = random.Random(cfg.seed)
    losses = []
    with progress_bar("train orm", steps, enabled=progress, loss=float("nan"),
                      status="loss {task.fields[loss]:.3f}") as update:
        for _ in range(cfg.epochs):
            order = list(range(len(train_rows)))
            rng.shuffle(order)
            model.train()
            for i in range(0, len(order), cfg.batch_size):
                batch = [train_rows[j] for j in order[i:i + cfg.batch_size]]
                enc = tokenizer([text_of(tokenizer, r["question"], r["solution"]) for r in batch],
                                add_special_tokens=False, padding=True, return_tensors="pt").to(cfg.device)
                labels = torch.tensor([float(r["label"]) for r in batch], device=cfg.device)
                with torch.autocast(torch.device(cfg.device).type, dtype=torch.bfloat16):
                    logits = model(**enc).logits[:, 0]
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), labels)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(loss.item())
                update(advance=1, loss=loss.item())

    scores = predict(model, tokenizer, [text_of(tokenizer, r["question"], r["solution"]) for r in test_rows])
    labels = [r["label"] for r in test_rows]
    summary = {
        "parameters": sum(p.numel() for p in model.parameters()),
        "samples": len(rows),
        "train_samples": len(train_rows),
        "held_out_samples": len(test_rows),
        "policy_accuracy": round(sum(r["label"] for r in rows) / len(rows), 4),
        "held_out_accuracy": round(sum((s >= 0.5) == bool(y) for s, y in zip(scores, labels)) / len(labels), 4),
        "held_out_auc": round(auc(scores, labels), 4),
        "last_loss": round(sum(losses[-50:]) / len(losses[-50:]), 4),
        "sampling_s": round(sampled_s, 1),
        "seconds": round(time.perf_counter() - started, 1),
        "config": asdict(cfg),
    }
    out = Path(cfg.out)
    model.to("cpu", torch.bfloat16).save_pretrained(out)
    build_tokenizer().save_pretrained(out)
    (out / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
