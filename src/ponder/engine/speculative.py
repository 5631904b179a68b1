"""Speculative decoding: a small draft model proposes k tokens per row, the target checks them in one pass.

Each step the draft samples d_1..d_k from its distributions p_1..p_k (one cheap pass per token; d_k, when
accepted, is fed at the start of the next step), then the target computes q_1..q_{k+1} for all of them at
once.

    # q: target prob, p: draft prob. q >= p: always accept; q < p: accept with prob q/p,
    # else resample from max(q - p, 0) normalised — this keeps the target distribution exactly.
    # Every draft accepted: one more token from q_{k+1}, free.

k adapts as in transformers' assisted generation: 2 more after a step whose every draft was accepted, 1 fewer
after any rejection (from `num_tokens`, between 1 and 3 x `num_tokens`). On a CPU a target pass over k+1 tokens
costs much more than a pass over one (small matrix products do not batch well there), so the steps that a
good draft makes long pay off most.

Both distributions are the processed ones (logit bias, penalties and min_tokens, counting the drafts a position
follows; then temperature, top-k, top-p, min-p), so the output follows exactly
the distribution that plain sampling with the same parameters draws from; greedy rows accept a draft token
when it is the target's argmax. The KV columns of rejected tokens are dropped in both models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ponder.engine.prefix_cache import PrefixCache
from ponder.engine.request import Sequence
from ponder.engine.runner import ModelRunner
from ponder.engine.sampler import Sampler
from ponder.engine.scheduler import StepPlan
from ponder.errors import InvalidArgumentError


@dataclass
class SpeculationStats:
    steps: int = 0
    proposed: int = 0  # draft tokens offered to the target
    accepted: int = 0  # of which the target kept

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.proposed if self.proposed else 0.0


class Speculator:
    """Args:
        draft: the draft causal LM (same vocabulary as the target), on the target's device.
        num_tokens: k, the tokens proposed at first per step (then adapted, up to 3 x num_tokens).
        prefix_cache_bytes: memory for the draft's own prefix cache.
    """

    def __init__(self, draft, target, num_tokens: int = 4, prefix_cache_bytes: int = 64 << 20, lean: bool = True):
        if num_tokens < 1:
            raise InvalidArgumentError(f"num_speculative_tokens={num_tokens} must be >= 1")
        draft_vocab, target_vocab = draft.get_output_embeddings().weight.shape[0], target.get_output_embeddings().weight.shape[0]
        if draft_vocab != target_vocab:
            raise InvalidArgumentError(f"the draft's vocabulary ({draft_vocab}) differs from the target's ({target_vocab})")
        self.draft = ModelRunner(draft, PrefixCache(prefix_cache_bytes), lean)
        self.k = num_tokens
        self.max_k = 3 * num_tokens
        self.lag: dict[int, int] = {}  # seq_id -> its last tokens that the draft's KV does not hold yet
        self.stats = SpeculationStats()

    def release(self, seqs: list[Sequence]) -> None:
        for seq in seqs:
            self.lag.pop(seq.seq_id, None)

    def step(self, plan: StepPlan, target: ModelRunner, sampler: Sampler, context: int,
             control: Callable[[Sequence, list[int]], list[int]] = lambda seq, tokens: tokens
             ) -> tuple[list[list[int]], torch.Tensor]:
        """One speculative step over every row: returns each row's new tokens (1 to k+1) and the target's
        logprobs [rows, k+1, vocab] at their positions. `control` may rewrite a row's tokens before they are
        kept (thinking control: a forced token replaces one, and the rest are dropped)."""
        target.apply(plan)
        self.draft.apply(plan)
        for join in plan.joining:
            for seq in join.seqs:  # the draft's KV holds the prompt but its last token
                self.lag[seq.seq_id] = 1
        rows = plan.rows
        # no proposal past the context, nor past what any row may still generate
        k = max(0, min(self.k, min(context - s.num_tokens - 1 for s in rows),
                       max(s.params.max_tokens - s.generated for s in rows) - 1))
        drafts: list[list[int]] = [[] for _ in rows]
        draft_probs = []
        if k:
            # the draft first catches up on the tokens it has not seen (the last one, or after a step whose
            # every draft was accepted, the last two), right-aligned behind placeholders
            lags = [self.lag[s.seq_id] for s in rows]
            width = max(lags)
            feed = [[0] * (width - lag) + s.all_token_ids[-lag:] for s, lag in zip(rows, lags)]
            logits = self.draft.forward(rows, feed, dummies=[width - lag for lag in lags])[:, -1]
            for j in range(k):
                if j:
                    logits = self.draft.forward(rows, [[d[-1]] for d in drafts], offset=j)[:, -1]
                probs = processed(sampler.adjust(logits, rows, drafts), rows)
                for i, seq in enumerate(rows):
                    drafts[i].append(sampler.draw(probs[i], seq))
                draft_probs.append(probs)
        logits = target.forward(rows, [[s.last_token] + d for s, d in zip(rows, drafts)], offset=k)
        # every position of every row in one call: [rows * (k+1), vocab]
        positions = [s for s in rows for _ in range(k + 1)]
        q = processed(sampler.adjust(logits.reshape(-1, logits.shape[-1]), positions,
                                     [d[:j] for d in drafts for j in range(k + 1)]), positions)
        q = q.view(len(rows), k + 1, -1)
        p = torch.stack(draft_probs, dim=1) if draft_probs else None
        out = [control(seq, self.accept(seq, drafts[i], None if p is None else p[i], q[i], sampler))
               for i, seq in enumerate(rows)]
        accepted = torch.tensor([len(tokens) - 1 for tokens in out], device=logits.device)
        target.keep(torch.arange(k + 1, device=logits.device) <= accepted[:, None])
        if k:
            # draft columns this step: the catch-up ones (placeholders masked already), then d_1..d_{k-1}
            self.draft.keep(torch.cat([torch.ones(len(rows), width, dtype=torch.bool, device=logits.device),
                                       torch.arange(1, k, device=logits.device) <= accepted[:, None]], dim=1))
        for seq, a in zip(rows, accepted.tolist()):
            # unseen by the draft now: the new token, and d_k too when every draft was accepted
            self.lag[seq.seq_id] = (2 if a == k else 1) if k else self.lag[seq.seq_id] + 1
        # the heuristic schedule of transformers' assisted generation: propose 2 more after a step whose every
        # draft was accepted, 1 fewer after any rejection
        if k:
            self.k = min(self.k + 2, self.max_k) if bool((accepted == k).all()) else max(self.k - 1, 1)
        self.stats.steps += 1
        self.stats.proposed += k * len(rows)
        self.stats.accepted += int(accepted.sum())
        return out, torch.log_softmax(logits.float(), dim=-1)

    @staticmethod
    def accept(seq: Sequence, drafts: list[int], p: torch.Tensor | None, q: torch.Tensor, sampler: Sampler
               ) -> list[int]:
        """The tokens row `seq` keeps: the accepted drafts, then one from the residual (or the bonus one)."""
        for j, token in enumerate(drafts):
            qj, pj = q[j, token].item(), p[j, token].item()
            if seq.params.greedy:
                ok = qj == 1.0
            else:
                ok = sampler.uniform([seq], 1, q.device).item() * pj < qj
            if not ok:
                residual = (q[j] - p[j]).clamp(min=0)
                if residual.sum() <= 0:
                    residual = q[j]
                return drafts[:j] + [sampler.draw(residual / residual.sum(), seq)]
        return drafts + [sampler.draw(q[len(drafts)], seq)]


def processed(logits: torch.Tensor, rows: list[Sequence]) -> torch.Tensor:
    """The distribution each row draws from: one-hot on the argmax for greedy rows."""
    logits = logits.float()
    probs = torch.zeros_like(logits)
    greedy = [i for i, s in enumerate(rows) if s.params.greedy]
    sampled = [i for i, s in enumerate(rows) if not s.params.greedy]
    if greedy:
        probs[greedy] = torch.nn.functional.one_hot(logits[greedy].argmax(-1), logits.shape[-1]).float()
    if sampled:
        probs[sampled] = Sampler.probs(logits[sampled], [rows[i] for i in sampled])
    return probs

