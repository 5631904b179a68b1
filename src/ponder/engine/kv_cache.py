"""The batch's KV cache: one left-padded tensor pair per layer, rows in the scheduler's order.

Rows have different lengths, so each is left-padded to the longest and an attention mask marks its real
columns; every row's RoPE positions count its real tokens only, so padding never shifts a row's positions.
This module is the only one that touches `transformers`' cache internals (`DynamicCache` and its layers'
`keys`/`values`), whose API moves between releases.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

HEADROOM = 64  # spare columns allocated past the current length, so most steps append without a copy


@dataclass
class KV:
    """KV for some rows: per layer keys and values [rows, kv_heads, length, head_dim], and mask [rows, length]
    (1 where a real token is, 0 on left padding)."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    mask: torch.Tensor
    # buffers with spare columns whose first `length` columns are `keys`/`values` (set after a forward pass)
    buffers: list[tuple[torch.Tensor, torch.Tensor]] | None = None

    @property
    def rows(self) -> int:
        return self.mask.shape[0]

    @property
    def length(self) -> int:
        return self.mask.shape[1]

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.keys + self.values)

    @classmethod
    def empty(cls, layers: int, kv_heads: int, head_dim: int, dtype, device, rows: int = 0) -> KV:
        blank = torch.zeros(rows, kv_heads, 0, head_dim, dtype=dtype, device=device)
        return cls([blank] * layers, [blank] * layers, torch.zeros(rows, 0, dtype=torch.long, device=device))

    def select(self, indices: list[int]) -> KV:
        if indices == list(range(self.rows)):
            return self
        return KV.assemble([(self, indices, 1)])

    @staticmethod
    def assemble(parts: list[tuple[KV | None, list[int] | int, int]]) -> KV:
        """A new batch, written in one copy. Each part (kv, rows, n) adds rows `rows` of `kv`, or, when kv is
        None, row `rows` of the batch built so far (a fork); a part of one row may repeat it n times. Rows are
        left-padded to the longest real extent, and the buffers get spare columns for the next steps."""
        template = next(kv for kv, _, _ in parts if kv is not None)
        extents = []  # each part's columns from its first real one
        for kv, rows, _ in parts:
            real = kv.mask[rows].any(0).nonzero() if kv is not None and rows else []
            extents.append(kv.length - int(real[0]) if len(real) else 0)
        length = max(extents, default=0)
        total = sum((len(rows) if kv is not None else 1) * n for kv, rows, n in parts)
        keys = [k.new_zeros(total, k.shape[1], length + HEADROOM, k.shape[3]) for k in template.keys]
        values = [v.new_zeros(total, v.shape[1], length + HEADROOM, v.shape[3]) for v in template.values]
        mask = template.mask.new_zeros(total, length)
        r = 0
        for (kv, rows, n), extent in zip(parts, extents):
            if kv is None:  # copies of a row already written
                for t in keys + values:
                    t[r:r + n] = t[rows:rows + 1]
                mask[r:r + n] = mask[rows]
                r += n
                continue
            if n > 1 and len(rows) != 1:
                raise ValueError("only a part of one row can be repeated")
            columns = slice(length - extent, length)
            for start, count in _runs(rows):  # consecutive rows copy as one slice, with no temporary
                src, dst = slice(start, start + count), slice(r, r + count * n)
                for t, u in zip(keys + values, kv.keys + kv.values):
                    t[dst, :, columns] = u[src, :, kv.length - extent:]  # broadcast over n copies of one row
                mask[dst, columns] = kv.mask[src, kv.length - extent:]
                r += count * n
        return KV([k[:, :, :length] for k in keys], [v[:, :, :length] for v in values], mask,
                  list(zip(keys, values)))

    def prefix(self, length: int) -> KV:
        """The first `length` columns (of a single unpadded row: a prompt prefix)."""
        return KV([k[:, :, :length] for k in self.keys], [v[:, :, :length] for v in self.values], self.mask[:, :length])

    def cropped(self, columns: int) -> KV:
        """Without the last `columns` columns; the buffers stay, so the next step writes over them."""
        end = self.length - columns
        return KV([k[:, :, :end] for k in self.keys], [v[:, :, :end] for v in self.values], self.mask[:, :end],
                  self.buffers)

    def trimmed(self) -> KV:
        """Without the leading columns that are padding in every row (left by rows that have gone)."""
        if self.rows == 0:
            return KV([k[:, :, :0] for k in self.keys], [v[:, :, :0] for v in self.values], self.mask[:, :0])
        real = self.mask.any(0).nonzero()
        start = int(real[0]) if len(real) else self.length
        if start == 0:
            return self
        return KV([k[:, :, start:] for k in self.keys], [v[:, :, start:] for v in self.values], self.mask[:, start:])

    def compacted(self) -> KV:
        """Every row's real columns moved to the right end, in order, so holes become left padding."""
        order = torch.sort(self.mask, dim=1, stable=True).indices  # padding (0) first, real columns in order
        index = order[:, None, :, None]
        def gather(t):
            return t.gather(2, index.expand(-1, t.shape[1], -1, t.shape[3]))
        return KV([gather(k) for k in self.keys], [gather(v) for v in self.values],
                  self.mask.gather(1, order)).trimmed()

    def as_cache(self, width: int) -> DynamicCache:
        """A transformers cache over these tensors for one forward pass that appends `width` columns: written
        in place into spare columns (allocated with headroom when there are too few), not concatenated."""
        need = self.length + width
        buffers = self.buffers
        if buffers is None or buffers[0][0].shape[2] < need or buffers[0][0].shape[0] != self.rows:
            buffers = []
            for k, v in zip(self.keys, self.values):
                kb = k.new_empty(k.shape[0], k.shape[1], need + HEADROOM, k.shape[3])
                vb = v.new_empty(kb.shape)
                kb[:, :, :self.length] = k
                vb[:, :, :self.length] = v
                buffers.append((kb, vb))
        cache = DynamicCache()
        cache.layers = [_InPlaceLayer(kb, vb, self.length) for kb, vb in buffers]
        return cache

    @classmethod
    def from_cache(cls, cache: DynamicCache, mask: torch.Tensor) -> KV:
        return cls([layer.keys for layer in cache.layers], [layer.values for layer in cache.layers], mask,
                   [(layer.key_buffer, layer.value_buffer) for layer in cache.layers])


class _InPlaceLayer(DynamicLayer):
    """A DynamicLayer that writes new columns into preallocated buffers instead of concatenating (which
    copies the whole cache at every step: most of the decode time of a small model, measured)."""

    def __init__(self, key_buffer: torch.Tensor, value_buffer: torch.Tensor, length: int):
        super().__init__()
        self.key_buffer, self.value_buffer, self.length = key_buffer, value_buffer, length
        self.dtype, self.device = key_buffer.dtype, key_buffer.device
        self.keys, self.values = key_buffer[:, :, :length], value_buffer[:, :, :length]
        self.is_initialized = True

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        end = self.length + key_states.shape[2]
        self.key_buffer[:, :, self.length:end] = key_states
        self.value_buffer[:, :, self.length:end] = value_states
        self.length = end
        self.keys, self.values = self.key_buffer[:, :, :end], self.value_buffer[:, :, :end]
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.length


def _runs(rows: list[int]) -> list[tuple[int, int]]:
    """Consecutive indices grouped: [3, 4, 5, 9] -> [(3, 3), (9, 1)]."""
    runs: list[tuple[int, int]] = []
    for i in rows:
        if runs and runs[-1][0] + runs[-1][1] == i:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((i, 1))
    return runs
