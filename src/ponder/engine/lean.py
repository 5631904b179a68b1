"""A lean forward pass for the Llama family (Llama, Mistral, Qwen2, Qwen3): the Hugging Face model's own weights,
run by a short function written for ponder's batch instead of through transformers' modules.

Why: on a small model a decode step is dominated by what surrounds its matmuls. Through transformers a layer is a
tree of module calls, a cache object and a 4-D mask built per step; here a step is a handful of tensor ops per
layer, writing keys and values straight into the batch's preallocated KV storage (kv_cache.py), with one mask
for every layer. gpt-fast is the model. Measured on 2 CPU cores (docs/measure/lean_forward.py), one decode step of
the embedded model at 64 rows x 148 columns: 1.09x-1.28x transformers' (the machine drifts). The attention is
memory-bound (it reads every row's keys and values), and the samples of one prompt hold that prompt's KV alike:
columns a group of rows shares (kv_cache.Shared) are read once for the group, all its rows' queries as one
matmul, and merged with the attention over each row's own columns by their softmax denominators. That cuts
a third of the attention with 84 of 148 columns shared, and halves the whole step with a 600-token prompt. What is
left is mostly the matmuls (~120 GFLOP/s at 64 rows) and the ops around them. torch.compile of this function
gave 1.2x more after a 55 s compile (measured, not wired in).

For each layer, with x the residual stream [rows, width, hidden]:

    h = rmsnorm(x) * w_attn_norm                       rmsnorm(x) = x / sqrt(mean(x^2) + eps), in fp32
    q, k, v = h @ W_qkv^T (+ b_qkv, Qwen2)             one matmul: the three projections' weights side by side
    q, k = rmsnorm(q), rmsnorm(k) per head (Qwen3)
    q, k = rope(q), rope(k)                            rope(t) = t * cos + rotate_half(t) * sin at each position
    K[:, :, L:L+width], V[...] = k, v                  appended in place after the L columns already there
    x = x + softmax(q K^T / sqrt(d) + mask) V @ W_o^T  mask: -inf on padding and on later columns (causal);
                                                       shared columns apart: attend_shared
    h = rmsnorm(x) * w_mlp_norm
    x = x + (silu(h @ W_gate^T) * (h @ W_up^T)) @ W_down^T     gate and up as one matmul

then logits = rmsnorm(x) * w_norm @ W_head^T. cos and sin come from the model's own rotary module, so every RoPE
variant it implements (default, llama3, yarn, ...) is honoured. Fusing q/k/v (and gate/up) concatenates their
weights once and points the modules' parameters at slices of the fused tensor, so memory does not grow and the
transformers path still runs on the same weights.

Any other architecture, or a configuration this does not implement (sliding windows, tensor-parallel slices, an
activation other than SiLU), keeps the transformers path: `LeanModel.of(model)` returns None for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

FAMILY = ("llama", "mistral", "qwen2", "qwen3")


@dataclass
class _Layer:
    attn_norm: torch.Tensor
    qkv: torch.Tensor  # [q_heads * d + 2 * kv_heads * d, hidden]
    qkv_bias: torch.Tensor | None
    q_norm: torch.Tensor | None  # Qwen3: RMSNorm over each head's d
    k_norm: torch.Tensor | None
    o: torch.Tensor
    o_bias: torch.Tensor | None
    mlp_norm: torch.Tensor
    gate_up: torch.Tensor  # [2 * intermediate, hidden]
    down: torch.Tensor
    gate_up_bias: torch.Tensor | None
    down_bias: torch.Tensor | None


def _check(modules) -> None:
    """Raise _Unsupported unless `modules` can be fused: plain linear layers, all with a bias or none."""
    if any(type(m) is not torch.nn.Linear or m.weight.device.type == "meta" for m in modules):
        raise _Unsupported("quantized or offloaded projections")
    if len({m.bias is None for m in modules}) > 1:
        raise _Unsupported("some projections have a bias and some do not")


def _fuse(modules) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One weight (and bias) for `modules` side by side; each module's parameters become views of it."""
    weight = torch.cat([m.weight.data for m in modules])
    bias = torch.cat([m.bias.data for m in modules]) if modules[0].bias is not None else None
    start = 0
    for m in modules:
        rows = m.weight.shape[0]
        m.weight.data = weight[start:start + rows]
        if bias is not None:
            m.bias.data = bias[start:start + rows]
        start += rows
    return weight, bias


class _Unsupported(Exception):
    pass


class LeanModel:
    """The forward pass above over a Hugging Face Llama-family model's weights (shared, not copied)."""

    def __init__(self, model):
        config = model.config.get_text_config()
        if config.model_type not in FAMILY:
            raise _Unsupported(f"model type {config.model_type!r}")
        if getattr(config, "hidden_act", "silu") != "silu" or getattr(config, "pretraining_tp", 1) != 1:
            raise _Unsupported("activation or tensor-parallel slices")
        window = getattr(config, "sliding_window", None)
        layer_types = getattr(config, "layer_types", None) or []
        if (window is not None and getattr(config, "use_sliding_window", True)) or \
                any(t != "full_attention" for t in layer_types):
            raise _Unsupported("sliding-window attention")
        inner = model.model
        self.config = config
        self.embed = inner.embed_tokens.weight
        self.head = model.lm_head.weight
        self.head_bias = getattr(model.lm_head, "bias", None)
        self.norm = inner.norm.weight
        self.eps = inner.norm.variance_epsilon
        self.rotary = inner.rotary_emb
        self.q_heads = config.num_attention_heads
        self.kv_heads = getattr(config, "num_key_value_heads", None) or self.q_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.q_heads
        self.scale = getattr(inner.layers[0].self_attn, "scaling", self.head_dim ** -0.5)
        self.blocks = inner.layers
        for layer in self.blocks:
            _check([layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj])
            _check([layer.mlp.gate_proj, layer.mlp.up_proj])
        self.layers: list[_Layer] = []  # fused at the first forward pass, in the thread that runs the engine

    def fuse(self) -> None:
        """The layers' weights, q/k/v and gate/up fused. Done in the thread that steps the engine, not where the
        engine is built: a parallel torch op run in one thread gives it a pool of OpenMP threads that competes
        with the stepping thread's on a small machine (measured: ponder serve 35% slower)."""
        with torch.inference_mode(False), torch.no_grad():  # plain tensors: the model still runs outside the engine
            self._fuse_layers()

    def _fuse_layers(self) -> None:
        for layer in self.blocks:
            attn, mlp = layer.self_attn, layer.mlp
            qkv, qkv_bias = _fuse([attn.q_proj, attn.k_proj, attn.v_proj])
            gate_up, gate_up_bias = _fuse([mlp.gate_proj, mlp.up_proj])
            q_norm, k_norm = getattr(attn, "q_norm", None), getattr(attn, "k_norm", None)
            self.layers.append(_Layer(
                layer.input_layernorm.weight, qkv, qkv_bias, q_norm.weight if q_norm is not None else None,
                k_norm.weight if k_norm is not None else None, attn.o_proj.weight, attn.o_proj.bias,
                layer.post_attention_layernorm.weight, gate_up, mlp.down_proj.weight, gate_up_bias,
                mlp.down_proj.bias))

    @classmethod
    def of(cls, model) -> LeanModel | None:
        """The lean forward for `model`, or None where it keeps the transformers path."""
        try:
            return cls(model)
        except (_Unsupported, AttributeError):
            return None

    def rmsnorm(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.float32:  # one fused op; the same sums as transformers' in fp32
            return F.rms_norm(x, weight.shape, weight, self.eps)
        y = x.float()
        y = y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + self.eps)
        return weight * y.to(x.dtype)

    @staticmethod
    def rope(t: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        half = t.shape[-1] // 2
        return t * cos + torch.cat((-t[..., half:], t[..., :half]), dim=-1) * sin

    def attend(self, q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, bias: torch.Tensor,
               lse: bool = False):
        """softmax(q K^T * scale + bias) V for q [rows, kv_heads, groups * width, d]: each key/value head's
        query heads (GQA) as one run of queries, so the keys are never copied. Plain matmuls: for a step's one
        query a row, faster on a CPU than the fused kernels (measured: 1 ms a layer at 64 rows). With `lse`,
        also the log of each query's softmax denominator, log sum_j exp(s_j) [rows, kv_heads, groups * width, 1],
        to merge with the attention over other columns (`attend_shared`)."""
        rows, heads, width, d = q.shape
        scores = torch.baddbmm(bias.expand(rows, heads, -1, -1).flatten(0, 1), q.flatten(0, 1),
                               keys.flatten(0, 1).transpose(1, 2), alpha=self.scale).float()
        if not lse:
            return torch.bmm(torch.softmax(scores, dim=-1).to(q.dtype), values.flatten(0, 1)).view(q.shape)
        out, total = _softmax_lse(scores, values.flatten(0, 1))
        return out.view(q.shape), total.view(rows, heads, width, 1)

    def attend_shared(self, q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor):
        """Attention of q [rows, kv_heads, queries, d] over columns that every row holds alike (one prompt's, in
        its samples' rows), read once from one copy keys/values [kv_heads, columns, d]: all the rows' queries of
        a head as one matmul, where row by row would read the same columns once a row (the attention is
        memory-bound). Returns the output and log-denominator as `attend(..., lse=True)`; two parts of a row's
        columns merge as out = out_a + sigmoid(lse_b - lse_a) * (out_b - out_a), the softmax over them all."""
        rows, heads, width, d = q.shape
        q = q.transpose(0, 1).reshape(heads, rows * width, d)
        scores = torch.bmm(q * self.scale, keys.transpose(1, 2)).float()  # [kv_heads, rows * queries, columns]
        out, total = _softmax_lse(scores, values)
        return out.view(heads, rows, width, d).transpose(0, 1), total.view(heads, rows, width, 1).transpose(0, 1)

    def __call__(self, ids: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor,
                 storage: list[tuple[torch.Tensor, torch.Tensor]], length: int, logits_to_keep: int = 0,
                 shared=()) -> torch.Tensor:
        """Feed `ids` [rows, width] at `positions` after the `length` columns already in `storage` (per layer
        keys and values [rows or more, kv_heads, columns, d]); `mask` [rows, length + width] is 1 on real
        columns. Each of `shared` (kv_cache.Shared: rows, start, length) names columns its rows hold alike,
        attended once for them all. Appends the new keys and values in place; returns logits [rows, width or
        logits_to_keep, vocab]."""
        if not self.layers:
            self.fuse()
        rows, width = ids.shape
        end = length + width
        x = F.embedding(ids, self.embed)
        cos, sin = self.rotary(x, positions)
        cos, sin = cos.unsqueeze(2), sin.unsqueeze(2)  # [rows, width, 1, d]: broadcast over heads
        # each group: its rows as an index, one row to read the shared columns from, and those columns
        groups = [(_index(s.rows, ids.device), s.rows[0], s.start, s.start + s.length) for s in shared]
        if groups:  # the rows' own columns: the shared ones are attended apart
            mask = mask.clone()
            for index, _, a, b in groups:
                mask[index, a:b] = 0
        # key column j is visible to the query at new column i when it is real and not after it
        # (a placeholder query, whose own column is masked, sees itself: never a row of all -inf)
        columns = torch.arange(end, device=ids.device)
        at = length + torch.arange(width, device=ids.device)[:, None]
        visible = (columns <= at) & (mask.bool()[:, None, :] | (columns == at))  # [rows, width, end]
        per_kv = self.q_heads // self.kv_heads
        bias = torch.zeros(visible.shape, dtype=x.dtype, device=x.device).masked_fill_(~visible, float("-inf"))
        bias = bias.repeat(1, per_kv, 1)[:, None]  # [rows, 1, per_kv * width, end], as attend's scores
        spans = _spans(mask)
        heads, d = self.q_heads + self.kv_heads, self.head_dim
        for layer, (keys, values) in zip(self.layers, storage):
            h = self.rmsnorm(x, layer.attn_norm)
            qk, v = F.linear(h, layer.qkv, layer.qkv_bias).view(rows, width, heads + self.kv_heads, d).split(
                [heads, self.kv_heads], dim=2)
            if layer.q_norm is not None:
                qk = torch.cat([self.rmsnorm(qk[:, :, :self.q_heads], layer.q_norm),
                                self.rmsnorm(qk[:, :, self.q_heads:], layer.k_norm)], dim=2)
            q, k = self.rope(qk, cos, sin).transpose(1, 2).split([self.q_heads, self.kv_heads], dim=1)
            keys[:rows, :, length:end] = k
            values[:rows, :, length:end] = v.transpose(1, 2)
            q = q.reshape(rows, self.kv_heads, per_kv * width, d)
            outs = [self.attend(q[a:b], keys[a:b, :, c:end], values[a:b, :, c:end], bias[a:b, ..., c:], bool(groups))
                    for a, b, c in spans]
            out = _cat([o for o, _ in outs] if groups else outs)
            if groups:
                total = _cat([t for _, t in outs])
                for index, first, a, b in groups:
                    o, t = self.attend_shared(q[index], keys[first, :, a:b], values[first, :, a:b])
                    out[index] = torch.lerp(out[index], o, torch.sigmoid(t - total[index]).to(out.dtype))
            out = out.view(rows, self.q_heads, width, d)
            x = x + F.linear(out.transpose(1, 2).reshape(rows, width, self.q_heads * d), layer.o, layer.o_bias)
            h = self.rmsnorm(x, layer.mlp_norm)
            gate, up = F.linear(h, layer.gate_up, layer.gate_up_bias).chunk(2, dim=-1)
            x = x + F.linear(F.silu(gate) * up, layer.down, layer.down_bias)
        if logits_to_keep:
            x = x[:, -logits_to_keep:]
        return F.linear(self.rmsnorm(x, self.norm), self.head, self.head_bias)


def _index(rows: tuple[int, ...], device):
    """Rows as an index: a slice where they run in order (a view, no copy), else a tensor."""
    if rows == tuple(range(rows[0], rows[0] + len(rows))):
        return slice(rows[0], rows[0] + len(rows))
    return torch.tensor(rows, device=device)


def _softmax_lse(scores: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(scores) @ values and log sum exp(scores) over the last dimension, in place on `scores`
    (torch.logsumexp is a chain of unfused ops: measured 3x slower here)."""
    peak = scores.amax(dim=-1, keepdim=True)
    weights = scores.sub_(peak).exp_()
    total = weights.sum(dim=-1, keepdim=True)
    return torch.bmm(weights.to(values.dtype), values).div_(total), total.log_().add_(peak)


def _cat(parts: list[torch.Tensor]) -> torch.Tensor:
    return parts[0] if len(parts) == 1 else torch.cat(parts)


SPAN_MERGE = 128  # columns: neighbouring rows whose real columns start within this of each other attend as one


def _spans(mask: torch.Tensor) -> list[tuple[int, int, int]]:
    """Runs of consecutive rows whose real columns start near one another: (first row, end row, first column).

    The batch is left-padded to its longest row, so one long prompt joining 64 short rows would make every row
    attend over its columns: reading the padding's keys and values is most of a decode step's attention (the
    attention is memory-bound). Rows join in runs (a request's samples side by side), so each run attends over
    its own columns only; runs whose starts are within SPAN_MERGE columns merge, and more than 8 runs attend as
    one (each run is a kernel call)."""
    starts = mask.argmax(1).tolist()  # each row's first real column
    spans: list[list[int]] = []
    for row, start in enumerate(starts):
        if spans and abs(start - spans[-1][2]) < SPAN_MERGE:
            spans[-1][1] = row + 1
            spans[-1][2] = min(spans[-1][2], start)
        else:
            spans.append([row, row + 1, start])
    if len(spans) > 8:
        return [(0, len(starts), min(starts))]
    return [tuple(span) for span in spans]
