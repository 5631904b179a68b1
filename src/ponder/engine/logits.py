"""What a request asks of the logits before its next token is chosen (the OpenAI and vLLM request fields): a bias
per token, penalties on tokens it has used, and no end before `min_tokens`. Greedy choice and sampling read the
adjusted logits; the logprobs a sample reports stay the model's own distribution, as vLLM's do by default.

    # logit_bias b: l -> l + b[token]  (first, as vLLM applies it)
    # repetition_penalty r (CTRL's; tokens of the prompt and output): a used token's logit l -> l/r if l > 0 else l*r
    # frequency_penalty f, presence_penalty p (OpenAI's; the output only): l -> l - f * count - p * (count > 0)
    # min_tokens m: the end of sequence and stop_token_ids -> -inf while fewer than m tokens are generated

Only rows that ask pay for it (one small loop over them; the common request asks nothing).
"""

from __future__ import annotations

import torch

from ponder.engine.request import Sequence


def adjust(logits: torch.Tensor, rows: list[Sequence], eos: set[int],
           drafted: list[list[int]] | None = None) -> torch.Tensor:
    """logits [len(rows), vocab], adjusted for the rows whose params ask (the same tensor when none does). A row
    may repeat a sample (speculative decoding scores several positions of one): `drafted[i]` are the tokens that
    row i follows beyond its sample's own, so its penalties and `min_tokens` count them too."""
    asking = [i for i, seq in enumerate(rows) if seq.params.adjusts_logits]
    if not asking:
        return logits
    logits = logits.float().clone()
    vocab = logits.shape[1]
    for i in asking:
        seq, row = rows[i], logits[i]
        params = seq.params
        output = seq.token_ids + drafted[i] if drafted else seq.token_ids
        if params.logit_bias:
            ids, bias = zip(*params.logit_bias)
            row[list(ids)] += torch.tensor(bias, device=row.device)
        if params.repetition_penalty != 1:
            used = torch.tensor(sorted(set(seq.request.prompt_ids) | set(output)), device=row.device)
            row[used] = torch.where(row[used] > 0, row[used] / params.repetition_penalty,
                                    row[used] * params.repetition_penalty)
        if output and (params.frequency_penalty or params.presence_penalty):
            counts = torch.bincount(torch.tensor(output, device=row.device), minlength=vocab)[:vocab].float()
            row -= params.frequency_penalty * counts + params.presence_penalty * (counts > 0).float()
        if len(output) < params.min_tokens:
            row[sorted(eos | set(params.stop_token_ids))] = float("-inf")
    return logits
