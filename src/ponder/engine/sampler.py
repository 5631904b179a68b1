"""Choose each row's next token from its logits: greedy, or temperature with top-k, top-p and min-p, after what a
request asks of the logits (logit bias, penalties, min_tokens: logits.py).

Sampling uses the exponential race: with E_i ~ Exp(1), argmax_i p_i / E_i is distributed as p. Each sample
draws its noise from its own generator, seeded from its request's seed and its index, so a sample's tokens
depend on its seed and its logits alone, never on which other rows share the batch.
"""

from __future__ import annotations

import torch

from ponder.engine.logits import adjust
from ponder.engine.request import Sequence


class Sampler:
    """Args:
        eos: the model's end-of-sequence ids (min_tokens keeps them from being chosen early)."""

    def __init__(self, eos: set[int] = frozenset()):
        self.eos = set(eos)
        self.generators: dict[int, torch.Generator] = {}  # seq_id -> its noise stream

    def release(self, seqs: list[Sequence]) -> None:
        for seq in seqs:
            self.generators.pop(seq.seq_id, None)

    def generator(self, seq: Sequence, device) -> torch.Generator:
        g = self.generators.get(seq.seq_id)
        if g is None:
            g = self.generators[seq.seq_id] = torch.Generator(device=device)
            g.manual_seed(seq.seed)
        return g

    @torch.inference_mode()
    def __call__(self, logits: torch.Tensor, rows: list[Sequence]) -> tuple[torch.Tensor, torch.Tensor]:
        """logits [rows, vocab] -> (tokens [rows], logprobs [rows, vocab] of the model's own distribution)."""
        logits = logits.float()
        logprobs = torch.log_softmax(logits, dim=-1)
        logits = self.adjust(logits, rows)
        tokens = logits.argmax(dim=-1)
        sampled = [i for i, seq in enumerate(rows) if not seq.params.greedy]
        if sampled:
            tokens[sampled] = self.sample(logits[sampled], [rows[i] for i in sampled])
        return tokens, logprobs

    def adjust(self, logits: torch.Tensor, rows: list[Sequence], drafted: list[list[int]] | None = None
               ) -> torch.Tensor:
        """The logits the rows choose from: what their requests ask of them applied (logits.py)."""
        return adjust(logits, rows, self.eos, drafted)

    def sample(self, logits: torch.Tensor, rows: list[Sequence]) -> torch.Tensor:
        probs = self.probs(logits, rows)
        noise = torch.stack([self.noise(seq, probs.shape[1], probs.device) for seq in rows])
        return (probs / noise).argmax(dim=-1)

    def draw(self, probs: torch.Tensor, seq: Sequence) -> int:
        """One token from a given distribution with the row's own noise (the argmax, for a greedy row)."""
        if seq.params.greedy:
            return int(probs.argmax())
        return int((probs / self.noise(seq, probs.shape[0], probs.device)).argmax())

    def noise(self, seq: Sequence, size: int, device) -> torch.Tensor:
        """Exp(1) draws from the sample's own stream."""
        return torch.empty(size, device=device).exponential_(generator=self.generator(seq, device))

    @staticmethod
    def probs(logits: torch.Tensor, rows: list[Sequence]) -> torch.Tensor:
        """The distribution each row samples from: temperature, then top-k, top-p and min-p truncation."""
        params = [seq.params for seq in rows]
        temperature = logits.new_tensor([p.temperature for p in params]).unsqueeze(1)
        probs = torch.softmax(logits / temperature, dim=-1)
        if any(p.top_k or p.top_p < 1 for p in params):
            sorted_probs, order = probs.sort(dim=-1, descending=True)
            rank = torch.arange(probs.shape[1], device=probs.device).expand_as(probs)
            top_k = logits.new_tensor([p.top_k or probs.shape[1] for p in params]).unsqueeze(1)
            top_p = logits.new_tensor([p.top_p for p in params]).unsqueeze(1)
            # keep a token while the mass before it is under top_p (so the most likely one always stays)
            drop = (rank >= top_k) | (sorted_probs.cumsum(-1) - sorted_probs >= top_p)
            probs = probs.scatter(1, order, sorted_probs.masked_fill(drop, 0))
        if any(p.min_p for p in params):
            min_p = logits.new_tensor([p.min_p for p in params]).unsqueeze(1)
            probs = probs.masked_fill(probs < min_p * probs.max(dim=-1, keepdim=True).values, 0)
        return probs / probs.sum(dim=-1, keepdim=True)
