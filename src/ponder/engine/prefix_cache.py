"""A least-recently-used store of computed token prefixes and their KV, under a memory bound.

A prompt that shares its first m tokens with a stored sequence reuses their KV: attention is causal, so the KV
of a prefix does not depend on what follows it. The engine stores every prompt it computes, so a step-wise
strategy that sends the prompt again with a step appended computes only the step. Entries hold tensors; the
scheduler never sees them.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from ponder.engine.kv_cache import KV


@dataclass
class PrefixCacheStats:
    lookups: int = 0
    hits: int = 0  # lookups that reused at least one token
    queried_tokens: int = 0
    hit_tokens: int = 0
    evictions: int = 0

    @property
    def hit_rate(self) -> float:
        """The share of looked-up tokens whose KV was reused."""
        return self.hit_tokens / self.queried_tokens if self.queried_tokens else 0.0


class PrefixCache:
    """Args:
        max_bytes: the most bytes of KV kept; the least recently used entries go first. 0 turns caching off.
        min_tokens: shorter sequences are not stored.
    """

    def __init__(self, max_bytes: int = 256 << 20, min_tokens: int = 4):
        self.max_bytes = max_bytes
        self.min_tokens = min_tokens
        self.entries: OrderedDict[tuple[int, ...], KV] = OrderedDict()
        self.nbytes = 0
        self.stats = PrefixCacheStats()

    def lookup(self, tokens: list[int]) -> tuple[int, KV | None]:
        """The longest stored prefix of `tokens`: (its length, its KV trimmed to that length), or (0, None)."""
        self.stats.lookups += 1
        self.stats.queried_tokens += len(tokens)
        best, best_key = 0, None
        for key in self.entries:
            n = _common_prefix(key, tokens)
            if n > best:
                best, best_key = n, key
        if best_key is None:
            return 0, None
        self.entries.move_to_end(best_key)
        self.stats.hits += 1
        self.stats.hit_tokens += best
        return best, self.entries[best_key].prefix(best)

    def insert(self, tokens: list[int], kv: KV) -> None:
        """Store the KV of `tokens` (one unpadded row, one column per token)."""
        key = tuple(tokens)
        if self.max_bytes <= 0 or len(key) < self.min_tokens or kv.nbytes > self.max_bytes:
            return
        for other in list(self.entries):
            if other[:len(key)] == key:  # already covered by a longer entry
                self.entries.move_to_end(other)
                return
            if key[:len(other)] == other:  # the new entry covers this shorter one
                self._drop(other)
        kv = KV([k.clone() for k in kv.keys], [v.clone() for v in kv.values], kv.mask.clone())  # its own memory
        self.entries[key] = kv
        self.nbytes += kv.nbytes
        while self.nbytes > self.max_bytes:
            self._drop(next(iter(self.entries)))
            self.stats.evictions += 1

    def _drop(self, key: tuple[int, ...]) -> None:
        self.nbytes -= self.entries.pop(key).nbytes

    def clear(self) -> None:
        self.entries.clear()
        self.nbytes = 0


def _common_prefix(a: tuple[int, ...], b: list[int]) -> int:
    n = min(len(a), len(b))
    if a[:n] == tuple(b[:n]):
        return n
    lo, hi = 0, n  # binary search on the first mismatch: tuple slices compare in C
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == tuple(b[:mid]):
            lo = mid
        else:
            hi = mid - 1
    return lo
