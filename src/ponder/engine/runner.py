"""The model runner: owns the model and the batch's KV, and runs one step's forward pass.

Each step it applies the scheduler's plan to the KV rows (drop, admit), then feeds every row's last token in
one batched decode pass. An admitted request's prompt is computed once, in a pass of its own, for all but its
last token (reusing any cached prefix) and then repeated for its rows; while samples of it still wait for
rows, the runner keeps that prompt KV (one row) for them. A long prompt that arrives while rows decode is
computed a chunk a step before it is admitted (chunked prefill: `prefill_part`, driven by the engine).
"""

from __future__ import annotations

import torch

from ponder.engine.kv_cache import KV
from ponder.engine.lean import LeanModel
from ponder.engine.prefix_cache import PrefixCache
from ponder.engine.request import Sequence
from ponder.engine.scheduler import StepPlan


class ModelRunner:
    def __init__(self, model, prefix_cache: PrefixCache, lean: bool = True):
        self.model = model
        # the forward pass: the lean one where the architecture has it (lean.py), else transformers'
        self.net = (LeanModel.of(model) if lean else None) or model
        self.prefix_cache = prefix_cache
        config = model.config.get_text_config()
        self.layers = config.num_hidden_layers
        self.kv_heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self.kv = self.empty()
        self.prompts: dict[int, KV] = {}  # request id -> its prompt's KV, while samples of it wait for rows
        self.partial: dict[int, tuple[KV, int]] = {}  # request id -> the KV of its prompt's first tokens so far
        self.prompt_tokens_computed = 0  # prompt tokens that went through the model (cache hits excluded)

    @property
    def kv_bytes_per_token(self) -> int:
        """The KV one token takes in one row: keys and values in every layer."""
        return 2 * self.layers * self.kv_heads * self.head_dim * self.dtype.itemsize

    def empty(self, rows: int = 0) -> KV:
        return KV.empty(self.layers, self.kv_heads, self.head_dim, self.dtype, self.device, rows)

    @torch.inference_mode()
    def run(self, plan: StepPlan) -> torch.Tensor:
        """Apply `plan` to the KV rows and run one decode step; returns the next-token logits [rows, vocab]."""
        self.apply(plan)
        return self.forward(plan.rows, [[s.last_token] for s in plan.rows])[:, -1]

    @torch.inference_mode()
    def apply(self, plan: StepPlan) -> None:
        """Drop the rows that left, add the rows of admitted requests: one copy of the batch when its rows
        change, none when they do not."""
        self.kv = self.kv.select(plan.keep)
        for request_id in plan.released:
            self.prompts.pop(request_id, None)
        if not plan.joining:
            return
        parts = []
        for join in plan.joining:
            kv = self.prompts.pop(join.request.request_id, None)
            if kv is None:
                kv = self.prefill(join.request.prompt_ids[:-1])
            if join.more:
                self.prompts[join.request.request_id] = kv
            parts.append((kv, [0], len(join.seqs)))
        # into the storage's spare rows when they fit; else one copy into new storage, with room for more rows
        # when requests are joining a running batch (continuous batching: more will come), within the bound
        room = min(2 * len(plan.rows), plan.capacity) if self.kv.rows else 0
        self.kv = self.kv.joined(parts) or KV.assemble([(self.kv, list(range(self.kv.rows)), 1)] + parts, room,
                                                       _ahead(plan.rows))

    @torch.inference_mode()
    def forward(self, rows: list[Sequence], tokens: list[list[int]], offset: int = 0,
                dummies: list[int] | None = None) -> torch.Tensor:
        """Feed each row the same number of new tokens, the last at its position + `offset`; their KV is
        appended. A row's first dummies[i] tokens are placeholders: masked, and dropped at the next
        `keep`. Returns logits [rows, tokens, vocab]."""
        width = len(tokens[0])
        ids = torch.tensor(tokens, device=self.device)
        end = torch.tensor([s.num_tokens - 1 + offset for s in rows], device=self.device)
        positions = end.unsqueeze(1) - torch.arange(width - 1, -1, -1, device=self.device)
        new = self.kv.mask.new_ones(len(rows), width)
        if dummies:
            new &= (torch.arange(width, device=self.device) >= torch.tensor(dummies, device=self.device)[:, None]).long()
        mask = torch.cat([self.kv.mask, new], dim=1)
        self.kv, out = self.kv.forward(self.net, mask, max(_ahead(rows) - width, 0), input_ids=ids,
                                       position_ids=positions.clamp(min=0))
        return out.logits

    @torch.inference_mode()
    def keep(self, keep: torch.Tensor) -> None:
        """Keep only the last columns that `keep` [rows, width] marks (speculative decoding: the KV of
        rejected draft tokens, and of placeholders, goes); holes become left padding."""
        kept = keep.sum(1)
        if bool((kept == keep.shape[1]).all()):
            return
        if bool((kept == kept[0]).all()) and bool(keep[:, :int(kept[0])].all()):
            self.kv = self.kv.cropped(keep.shape[1] - int(kept[0]))  # every row drops the same last columns
            return
        mask = self.kv.mask.clone()
        mask[:, -keep.shape[1]:] &= keep.long()
        self.kv = KV(self.kv.keys, self.kv.values, mask).compacted()

    @torch.inference_mode()
    def prefill_part(self, request_id: int, tokens: list[int], budget: int | None) -> tuple[int, bool]:
        """Compute up to `budget` more tokens (None: all) of a prompt's KV (chunked prefill: a long prompt is
        computed a chunk a step while the batch decodes). Returns (tokens computed, whether the prompt is done);
        a done prompt's KV waits in `prompts` for its rows."""
        before = self.prompt_tokens_computed
        kv, done = self.compute(tokens, self.partial.pop(request_id, None), budget)
        if done < len(tokens):
            self.partial[request_id] = (kv, done)
        else:
            self.prompts[request_id] = kv
        return self.prompt_tokens_computed - before, done == len(tokens)

    @torch.inference_mode()
    def prefill(self, tokens: list[int]) -> KV:
        """The KV of `tokens` (one row, no padding), from the prefix cache as far as it reaches."""
        return self.compute(tokens)[0]

    def compute(self, tokens: list[int], part: tuple[KV, int] | None = None, budget: int | None = None
                ) -> tuple[KV, int]:
        """The KV of `tokens` (one row, no padding): from `part` (the KV of its first tokens, computed so far) or
        else the prefix cache as far as it reaches, then up to `budget` more tokens (None: all). Returns it and how
        many of the tokens it holds; once it holds them all, the prefix cache keeps it."""
        if not tokens:
            return self.empty(1), 0
        if part is None:
            done, kv = self.prefix_cache.lookup(tokens)
            part = (kv or self.empty(1), done)
        kv, done = part
        take = len(tokens) - done if budget is None else min(budget, len(tokens) - done)
        if take:
            kv, _ = self.extend(kv, tokens[done:done + take], logits_to_keep=1)
            self.prompt_tokens_computed += take
            done += take
            if done == len(tokens):
                self.prefix_cache.insert(tokens, kv)
        return kv, done

    @torch.inference_mode()
    def extend(self, kv: KV, tokens: list[int], logits_to_keep: int = 0) -> tuple[KV, torch.Tensor]:
        """Feed `tokens` after the KV of one unpadded row; returns the longer KV and the logits [tokens, vocab]
        (all of them, or the last `logits_to_keep`)."""
        length = kv.length + len(tokens)
        positions = torch.arange(kv.length, length, device=self.device).unsqueeze(0)
        mask = torch.ones(1, length, dtype=torch.long, device=self.device)
        kv, out = kv.forward(self.net, mask, input_ids=torch.tensor([tokens], device=self.device),
                             position_ids=positions, logits_to_keep=logits_to_keep)
        return kv, out.logits[0]


def _ahead(rows: list[Sequence]) -> int:
    """The most tokens a row of `rows` may still generate: how far the batch's KV may grow."""
    return max((s.params.max_tokens - s.generated for s in rows), default=0)
