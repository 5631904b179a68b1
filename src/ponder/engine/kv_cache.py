"""The batch's KV cache: one left-padded tensor pair per layer, rows in the scheduler's order.

The tensors are views of a larger storage with spare columns (so a step appends in place) and spare rows (so
a request joins in place); a row that leaves is overwritten by a row from the end (so the rest stay put).

Rows have different lengths, so each is left-padded to the longest and an attention mask marks its real
columns; every row's RoPE positions count its real tokens only, so padding never shifts a row's positions.
The rows of one request's samples start from the same prompt KV: the batch records which rows hold which
columns alike (`Shared`), through every move of its rows, so the lean forward reads those columns once.
This module is the only one that touches `transformers`' cache API (`DynamicCache`, its layers' `keys`/`values`,
and the keyword a model's forward takes it by), which moves between releases.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer
from transformers.modeling_outputs import CausalLMOutput

from ponder.engine.lean import LeanModel

HEADROOM = 64  # spare columns past the current length where the rows' bound is not known
SHARE_ROWS = 8  # a prompt's KV is attended as shared by at least this many of its samples' rows (lean.py)...
SHARE_COLUMNS = 16  # ...when it is at least this long; below, the extra kernel calls cost more than they save


@dataclass(frozen=True)
class Shared:
    """Columns [start, start + length) hold the same keys and values in each of `rows`: one prompt's KV, copied
    into the rows of its samples. The lean forward reads those columns once for all the rows (lean.py)."""

    rows: tuple[int, ...]
    start: int
    length: int


@dataclass
class KV:
    """KV for some rows: per layer keys and values [rows, kv_heads, length, head_dim], and mask [rows, length]
    (1 where a real token is, 0 on left padding)."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    mask: torch.Tensor
    # per layer the storage that keys/values are views of: [rows or more, kv_heads, length or more, head_dim];
    # spare columns let a step append without a copy, spare rows let requests join without one
    buffers: list[tuple[torch.Tensor, torch.Tensor]] | None = None
    shared: tuple[Shared, ...] = ()  # groups of rows holding one prompt's KV

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
        """Rows `indices`, in that order. When only the rows of the first len(indices) slots change and each
        takes a row from beyond them (the scheduler fills the slots of rows that left with rows from the end),
        those few rows are copied into their slots in place; otherwise the batch is rebuilt in one copy. With no
        rows left, the storage goes (a view of none of its rows would keep all of it alive until the next batch:
        the 16-request bench case peaked at 761 MB on its second run, 644 MB on its first)."""
        n = len(indices)
        if indices == list(range(self.rows)):
            return self
        if n == 0:
            k = self.keys[0]
            return KV.empty(len(self.keys), k.shape[1], k.shape[3], k.dtype, k.device)
        moves = [(slot, row) for slot, row in enumerate(indices) if slot != row]
        if self.buffers is None or any(row < n for _, row in moves) or len(set(indices)) < n:
            return KV.assemble([(self, indices, 1)])
        if moves:
            slots = torch.tensor([slot for slot, _ in moves], device=self.mask.device)
            rows = torch.tensor([row for _, row in moves], device=self.mask.device)
            for kb, vb in self.buffers:
                kb[slots] = kb[rows]
                vb[slots] = vb[rows]
        return KV([kb[:n, :, :self.length] for kb, _ in self.buffers],
                  [vb[:n, :, :self.length] for _, vb in self.buffers], self.mask[indices], self.buffers,
                  _moved(self.shared, indices)).trimmed()

    def joined(self, parts: list[tuple[KV, list[int], int]]) -> KV | None:
        """These rows and the rows of `parts` (as in `assemble`) written into the spare rows of the storage, with
        no copy of the rows already there; None when the storage has too few spare rows or a new row is longer
        than the batch (then `assemble` rebuilds it)."""
        if self.buffers is None or self.rows == 0:
            return None
        added = sum(len(rows) * n for _, rows, n in parts)
        if self.rows + added > self.buffers[0][0].shape[0]:
            return None
        extents = [_extent(kv, rows) for kv, rows, _ in parts]
        if max(extents) > self.length:
            return None
        total = self.rows + added
        mask = self.mask.new_zeros(total, self.length)
        mask[:self.rows] = self.mask
        storage = [kb for kb, _ in self.buffers] + [vb for _, vb in self.buffers]
        _write(storage, mask, self.rows, parts, extents, self.length, clear=True)
        return KV([kb[:total, :, :self.length] for kb, _ in self.buffers],
                  [vb[:total, :, :self.length] for _, vb in self.buffers], mask, self.buffers,
                  self.shared + _shared(parts, extents, self.length, self.rows))

    @staticmethod
    def assemble(parts: list[tuple[KV, list[int], int]], capacity: int = 0, ahead: int = HEADROOM) -> KV:
        """A new batch, written in one copy. Each part (kv, rows, n) adds rows `rows` of `kv`; a part of one row
        may repeat it n times. Rows are left-padded to the longest real extent; the storage gets `ahead` spare
        columns (see `storage`) and room for `capacity` rows in all."""
        template = parts[0][0]
        extents = [_extent(kv, rows) for kv, rows, _ in parts]
        length = max(extents, default=0)
        total = sum(len(rows) * n for _, rows, n in parts)
        room = max(total, capacity)
        # empty, not zeroed: only the rows' padding columns must hold zeros (_write clears them); the spare rows
        # and columns are written before they are read, and never touching them saves the page faults of
        # zeroing a storage sized for twice the rows (a 64-row batch that a 484-token prompt joins: 290 of
        # 580 MB, measured 0.2-0.9 s zeroed whole)
        columns = length + ahead
        keys = [k.new_empty(room, k.shape[1], columns, k.shape[3]) for k in template.keys]
        values = [v.new_empty(room, v.shape[1], columns, v.shape[3]) for v in template.values]
        mask = template.mask.new_zeros(total, length)
        _write(keys + values, mask, 0, parts, extents, length, clear=True)
        return KV([k[:total, :, :length] for k in keys], [v[:total, :, :length] for v in values], mask,
                  list(zip(keys, values)), _shared(parts, extents, length, 0))

    def prefix(self, length: int) -> KV:
        """The first `length` columns (of a single unpadded row: a prompt prefix)."""
        return KV([k[:, :, :length] for k in self.keys], [v[:, :, :length] for v in self.values], self.mask[:, :length])

    def cropped(self, columns: int) -> KV:
        """Without the last `columns` columns; the buffers stay, so the next step writes over them."""
        end = self.length - columns
        return KV([k[:, :, :end] for k in self.keys], [v[:, :, :end] for v in self.values], self.mask[:, :end],
                  self.buffers, tuple(s for s in self.shared if s.start + s.length <= end))

    def trimmed(self) -> KV:
        """Without the leading columns that are padding in every row (left by rows that have gone); views,
        buffers included, so nothing is copied."""
        real = self.mask.any(0).nonzero()
        start = int(real[0]) if len(real) else self.length
        if start == 0:
            return self
        buffers = [(kb[:, :, start:], vb[:, :, start:]) for kb, vb in self.buffers] if self.buffers else None
        return KV([k[:, :, start:] for k in self.keys], [v[:, :, start:] for v in self.values], self.mask[:, start:],
                  buffers, tuple(Shared(s.rows, s.start - start, s.length) for s in self.shared))

    def compacted(self) -> KV:
        """Every row's real columns moved to the right end, in order, so holes become left padding. Rows move by
        different amounts, so no columns stay shared."""
        order = torch.sort(self.mask, dim=1, stable=True).indices  # padding (0) first, real columns in order
        index = order[:, None, :, None]
        def gather(t):
            return t.gather(2, index.expand(-1, t.shape[1], -1, t.shape[3]))
        return KV([gather(k) for k in self.keys], [gather(v) for v in self.values],
                  self.mask.gather(1, order)).trimmed()

    def forward(self, model, mask: torch.Tensor, ahead: int = HEADROOM, **inputs):
        """One forward pass of `model` on `inputs` (input_ids [rows, width], position_ids, ...) after these
        columns, whose attention mask with the new columns is `mask`, when the rows may grow by `ahead` more
        columns after it; returns (the KV with the new columns appended, the model's output)."""
        width = inputs["input_ids"].shape[1]
        storage = self.storage(width, ahead)
        if isinstance(model, LeanModel):
            logits = model(inputs["input_ids"], inputs["position_ids"], mask, storage, self.length,
                           inputs.get("logits_to_keep", 0), self.shared)
            end = self.length + width
            return KV([kb[:self.rows, :, :end] for kb, _ in storage], [vb[:self.rows, :, :end] for _, vb in storage],
                      mask, storage, self.shared), CausalLMOutput(logits=logits)
        cache = DynamicCache()
        cache.layers = [_InPlaceLayer(kb, vb, self.rows, self.length) for kb, vb in storage]
        out = model(**inputs, attention_mask=mask, use_cache=True, **{_cache_keyword(type(model)): cache})
        return KV.from_cache(cache, mask), out

    def storage(self, width: int, ahead: int = HEADROOM) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per layer the keys' and values' storage for a forward pass that appends `width` columns: these
        buffers when they have room (the new columns are written in place, not concatenated), else new ones
        with `ahead` spare columns: as many as the rows may still take (the runner passes their remaining
        max_tokens), so a batch is laid out once, not every HEADROOM steps, each a copy of all of it. Spare
        columns cost no memory until written: the storage is left unzeroed, and the pages of a CPU allocation
        this large are mapped at first touch (on a GPU they are reserved, as the scheduler's admission counts)."""
        need = self.length + width
        buffers = self.buffers
        if buffers is None or buffers[0][0].shape[2] < need or buffers[0][0].shape[0] < self.rows:
            rows = max(self.rows, buffers[0][0].shape[0] if buffers else 0)  # keep the spare rows
            buffers = []
            for k, v in zip(self.keys, self.values):
                kb = k.new_empty(rows, k.shape[1], need + ahead, k.shape[3])
                vb = v.new_empty(kb.shape)
                kb[:self.rows, :, :self.length] = k
                vb[:self.rows, :, :self.length] = v
                buffers.append((kb, vb))
        return buffers

    @classmethod
    def from_cache(cls, cache: DynamicCache, mask: torch.Tensor) -> KV:
        return cls([layer.keys for layer in cache.layers], [layer.values for layer in cache.layers], mask,
                   [(layer.key_storage, layer.value_storage) for layer in cache.layers])


class _InPlaceLayer(DynamicLayer):
    """A DynamicLayer that writes new columns into preallocated storage instead of concatenating (which
    copies the whole cache at every step: most of the decode time of a small model, measured)."""

    def __init__(self, key_storage: torch.Tensor, value_storage: torch.Tensor, rows: int, length: int):
        super().__init__()
        self.key_storage, self.value_storage = key_storage, value_storage
        self.key_buffer, self.value_buffer, self.length = key_storage[:rows], value_storage[:rows], length
        self.dtype, self.device = key_storage.dtype, key_storage.device
        self.keys, self.values = self.key_buffer[:, :, :length], self.value_buffer[:, :, :length]
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


@functools.cache
def _cache_keyword(model_class: type) -> str:
    """The keyword `model_class.forward` takes the cache by. transformers 5.24 renamed `past_key_values` to
    `cache` (the old name still works there, with a FutureWarning, until 5.40); the signature says which one a
    model takes, so a release before 5.24, and remote code still on the old name, work as well."""
    return "cache" if "cache" in inspect.signature(model_class.forward).parameters else "past_key_values"


def _extent(kv: KV, rows: list[int]) -> int:
    """The columns of `rows` of `kv` from the first that is real in any of them."""
    if not rows:
        return 0
    real = kv.mask[rows].any(0).nonzero()
    return kv.length - int(real[0]) if len(real) else 0


def _shared(parts: list[tuple[KV, list[int], int]], extents: list[int], length: int, r: int) -> tuple[Shared, ...]:
    """The shared columns of a batch whose rows from `r` on are `parts` (as in `assemble`), right-aligned to
    column `length`: a prompt repeated for its samples, and the groups of the rows that a part carries."""
    shared = []
    for (kv, rows, n), extent in zip(parts, extents):
        if n >= SHARE_ROWS and extent >= SHARE_COLUMNS and kv.mask[rows[0]].all():  # a whole prompt, n rows
            shared.append(Shared(tuple(range(r, r + n)), length - extent, extent))
        elif n == 1:
            shared += _moved(kv.shared, rows, r, length - kv.length)
        r += len(rows) * n
    return tuple(shared)


def _moved(shared: tuple[Shared, ...], rows: list[int], r: int = 0, shift: int = 0) -> tuple[Shared, ...]:
    """`shared` once rows `rows` have become rows r, r + 1, ... and every column has moved right by `shift`;
    a group left with too few rows is dropped (its rows attend over their own copies)."""
    if not shared:
        return ()
    where = {row: r + i for i, row in enumerate(rows)}
    moved = (tuple(sorted(where[row] for row in s.rows if row in where)) for s in shared)
    return tuple(Shared(group, s.start + shift, s.length) for s, group in zip(shared, moved)
                 if len(group) >= SHARE_ROWS)


def _write(storage: list[torch.Tensor], mask: torch.Tensor, r: int, parts: list[tuple[KV, list[int], int]],
           extents: list[int], length: int, clear: bool) -> None:
    """Write the rows of `parts` (as in `assemble`) into `storage` (every layer's keys, then values) and `mask`
    from row `r` on, each part right-aligned to column `length`. `clear` zeroes the padding columns of storage
    that is reused or new and uninitialised: masked, but never garbage (0 x NaN is NaN)."""
    for (kv, rows, n), extent in zip(parts, extents):
        if n > 1 and len(rows) != 1:
            raise ValueError("only a part of one row can be repeated")
        columns = slice(length - extent, length)
        for start, count in _runs(rows):  # consecutive rows copy as one slice, with no temporary
            src, dst = slice(start, start + count), slice(r, r + count * n)
            for t, u in zip(storage, kv.keys + kv.values):
                if clear:
                    t[dst, :, :length - extent] = 0
                t[dst, :, columns] = u[src, :, kv.length - extent:]  # broadcast over n copies of one row
            mask[dst, columns] = kv.mask[src, kv.length - extent:]
            r += count * n


def _runs(rows: list[int]) -> list[tuple[int, int]]:
    """Consecutive indices grouped: [3, 4, 5, 9] -> [(3, 3), (9, 1)]."""
    runs: list[tuple[int, int]] = []
    for i in rows:
        if runs and runs[-1][0] + runs[-1][1] == i:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((i, 1))
    return runs
