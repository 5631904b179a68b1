"""orm: an outcome reward model, any `AutoModelForSequenceClassification` folder (one logit, or two classes
with the second meaning "right"), reading the question and a candidate solution in the model's chat template.
The default, `ponder-arith-orm`, ships with ponder (trained by `ponder train orm`, see its card.md)."""

from __future__ import annotations

import asyncio
import threading

import torch

from ponder.errors import ModelNotFoundError
from ponder.verifiers.base import Problem


class RewardModel:
    """Args:
        model: a shipped model's name or a Hugging Face folder of a sequence classifier.
        device: torch device to run it on.
        batch_size: candidates scored per forward pass.
    """

    name = "orm"

    def __init__(self, model: str = "ponder-arith-orm", device: str = "cpu", batch_size: int = 64):
        import transformers
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from ponder.models import resolve

        transformers.utils.logging.disable_progress_bar()
        path = resolve(model)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            self.model = AutoModelForSequenceClassification.from_pretrained(path, dtype=torch.float32).to(device).eval()
        except (OSError, ValueError) as error:
            raise ModelNotFoundError(f"cannot load a sequence classifier from {str(path)!r}: {error}") from error
        self.tokenizer.padding_side = "left"
        self.batch_size = batch_size
        self._lock = threading.Lock()  # one forward at a time: concurrent strategies share the model

    async def score(self, problem: Problem, candidates: list[str]) -> list[float]:
        return await asyncio.to_thread(self.probabilities, problem.prompt(), candidates)

    @torch.inference_mode()
    def probabilities(self, messages: list[dict] | str, candidates: list[str]) -> list[float]:
        """P(right) of each candidate answer to the conversation `messages` (or a bare question)."""
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        texts = [self.tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": c}], tokenize=False)
                 for c in candidates]
        out = []
        with self._lock:
            for i in range(0, len(texts), self.batch_size):
                enc = self.tokenizer(texts[i:i + self.batch_size], add_special_tokens=False, padding=True,
                                     return_tensors="pt").to(self.model.device)
                logits = self.model(**enc).logits.float()
                p = torch.sigmoid(logits[:, 0]) if logits.shape[1] == 1 else torch.softmax(logits, -1)[:, -1]
                out += p.tolist()
        return out
