"""The scheduler decides, before each step, which samples make up the batch; it holds no tensors.

No "prefill phase": a request that is admitted has its prompt (all but the last token) computed into fresh
KV rows, and from then on every row is alike, a sample whose last token is the input of the next decode
step. A finished or aborted sample leaves the batch at the next step, so its compute stops at once.

Memory: the batch's KV is left-padded to its longest row (kv_cache.py), so it holds rows x longest columns per
layer. Each row reserves the most columns it can grow to, its request's `max_length` (prompt + max_tokens), and
rows join only while rows <= max_rows and rows x the longest reservation <= max_kv_tokens: the KV can never grow
past the bound, whatever the requests do later. A request's samples join in index order, as many as fit; the
rest wait (a Python object each, no tensors) and join as rows free up, from the prompt KV that the runner
computed for the first of them. So a request of 100,000 samples runs in waves within the bound.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from ponder.engine.request import Request, Sequence
from ponder.errors import InvalidArgumentError


@dataclass
class Join:
    """Rows that join the batch this step: samples `seqs` of `request`, each starting from its prompt's KV."""

    request: Request
    seqs: list[Sequence]
    more: bool  # samples of the request still wait for rows: the runner keeps its prompt's KV for them


@dataclass
class StepPlan:
    """What the runner does this step, in this order: keep these rows of the previous batch (their indices),
    then append the rows of each join (its prompt's KV, repeated once per sample). `rows` is the batch after
    that, in KV-row order."""

    keep: list[int]
    joining: list[Join] = field(default_factory=list)
    rows: list[Sequence] = field(default_factory=list)
    left: list[Sequence] = field(default_factory=list)  # samples whose rows left the batch
    released: list[int] = field(default_factory=list)  # requests whose waiting samples were all aborted
    capacity: int = 0  # the most rows the KV storage may be sized for: the bound at the batch's longest reservation


class Scheduler:
    """Args:
        max_rows: the most samples in one batch.
        max_kv_tokens: the most KV columns the batch may hold, rows x the longest row's reservation (None: no
            bound but max_rows). A request whose one sample could outgrow it is refused when it is added.
    """

    def __init__(self, max_rows: int = 256, max_kv_tokens: int | None = None):
        if max_rows < 1:
            raise InvalidArgumentError(f"max_rows={max_rows} must be >= 1")
        if max_kv_tokens is not None and max_kv_tokens < 1:
            raise InvalidArgumentError(f"max_kv_tokens={max_kv_tokens} must be >= 1")
        self.max_rows = max_rows
        self.max_kv_tokens = max_kv_tokens
        self.waiting: deque[Request] = deque()  # requests with samples not admitted yet, first come first served
        self.running: list[Sequence] = []  # the current batch, in KV-row order
        self.requests: dict[int, Request] = {}

    def add(self, request: Request, ready: bool = True) -> None:
        """Queue a request. One that is not `ready` (its prompt is still being computed in chunks: engine.py) is
        known, so it can be aborted, but joins the queue only at `ready`."""
        if self.max_kv_tokens is not None and request.max_length > self.max_kv_tokens:
            raise InvalidArgumentError(
                f"a sample of this request may reach {request.max_length} tokens (prompt + max_tokens), more than "
                f"the engine's KV memory holds ({self.max_kv_tokens} tokens); lower max_tokens")
        self.requests[request.request_id] = request
        if ready:
            self.waiting.append(request)

    def ready(self, request: Request) -> None:
        self.waiting.append(request)

    @property
    def decoding(self) -> bool:
        """Whether any row of the batch is still running."""
        return any(not s.finished for s in self.running)

    def abort(self, request_id: int, index: int | None = None) -> list[Sequence]:
        """Mark a request's samples (or its sample `index`) aborted; their rows leave at the next step, and
        those still waiting never join."""
        request = self.requests.get(request_id)
        if request is None:
            return []
        if index is None:
            seqs = request.seqs
        else:
            seqs = [request.seqs[index]] if 0 <= index < len(request.seqs) else []
        aborted = [s for s in seqs if not s.finished]
        for seq in aborted:
            seq.finish_reason = "abort"
        return aborted

    @property
    def has_work(self) -> bool:
        return bool(self.waiting or self.decoding)

    @property
    def waiting_rows(self) -> int:
        """Samples of queued requests that have not joined the batch yet. Safe to read from another thread: it
        iterates a copy of the queue (a deque that changes while it is iterated raises)."""
        return sum(r.unadmitted for r in list(self.waiting))

    def schedule(self) -> StepPlan:
        # rows that stay: the first `alive` slots keep their rows, except that the slot of a row that left takes
        # a row from the end, so the runner moves a few rows instead of rebuilding the batch
        alive = sum(not s.finished for s in self.running)
        tail = iter([i for i, s in enumerate(self.running) if i >= alive and not s.finished])
        keep = [i if not self.running[i].finished else next(tail) for i in range(alive)]
        plan = StepPlan(keep, left=[s for s in self.running if s.finished])
        rows = [self.running[i] for i in keep]
        longest = max((s.request.max_length for s in rows), default=0)
        while self.waiting:
            request = self.waiting[0]
            if not request.waiting:  # its samples that had not joined yet were aborted
                self.waiting.popleft()
                plan.released.append(request.request_id)
                if request.finished:
                    self.forget(request)
                continue
            reservation = max(longest, request.max_length)
            room = self._fits(reservation) - len(rows)
            if room <= 0:
                break  # first come, first served: nothing behind it jumps the queue
            seqs = request.admit(room)
            more = request.waiting
            if not more:
                self.waiting.popleft()
            plan.joining.append(Join(request, seqs, more))
            rows.extend(seqs)
            longest = reservation
        plan.rows = self.running = rows
        plan.capacity = self._fits(longest)
        for seq in plan.left:
            if seq.request.finished:
                self.forget(seq.request)
        return plan

    def _fits(self, reservation: int) -> int:
        """The most rows the batch may have when its longest row reserves `reservation` columns."""
        if self.max_kv_tokens is None or reservation == 0:
            return self.max_rows
        return min(self.max_rows, self.max_kv_tokens // reservation)

    def forget(self, request: Request) -> None:
        self.requests.pop(request.request_id, None)
