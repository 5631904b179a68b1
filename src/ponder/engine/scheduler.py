"""The scheduler decides, before each step, which samples make up the batch; it holds no tensors.

No "prefill phase": a request that is admitted has its prompt (all but the last token) computed into fresh
KV rows, and from then on every row is alike, a sample whose last token is the input of the next decode
step. A finished or aborted sample leaves the batch at the next step, so its compute stops at once.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from ponder.engine.request import Request, Sequence


@dataclass
class StepPlan:
    """What the runner does this step, in this order: keep these rows of the previous batch (their indices),
    then append the rows of each joining request: for a fork, copies of batch row `source`; otherwise its
    prompt computed once and repeated n times. `rows` is the batch after that, in KV-row order."""

    keep: list[int]
    joining: list[tuple[Request, int | None]] = field(default_factory=list)  # (request, source row of a fork)
    rows: list[Sequence] = field(default_factory=list)
    left: list[Sequence] = field(default_factory=list)  # samples whose rows left the batch


class Scheduler:
    """Args:
        max_rows: the most samples in one batch; a request waits until all its n samples fit (one that is
            larger than the limit on its own runs alone).
    """

    def __init__(self, max_rows: int = 256):
        self.max_rows = max_rows
        self.waiting: deque[Request] = deque()
        self.running: list[Sequence] = []  # the current batch, in KV-row order
        self.requests: dict[int, Request] = {}

    def add(self, request: Request) -> None:
        self.requests[request.request_id] = request
        self.waiting.append(request)

    def abort(self, request_id: int, index: int | None = None) -> list[Sequence]:
        """Mark a request's samples (or its sample `index`) aborted; their rows leave at the next step."""
        request = self.requests.get(request_id)
        if request is None:
            return []
        aborted = [s for s in request.seqs if not s.finished and (index is None or s.index == index)]
        for seq in aborted:
            seq.finish_reason = "abort"
        return aborted

    @property
    def has_work(self) -> bool:
        return bool(self.waiting or any(not s.finished for s in self.running))

    def schedule(self) -> StepPlan:
        # rows that stay: the first `alive` slots keep their rows, except that the slot of a row that left takes
        # a row from the end, so the runner moves a few rows instead of rebuilding the batch
        alive = sum(not s.finished for s in self.running)
        tail = iter([i for i, s in enumerate(self.running) if i >= alive and not s.finished])
        keep = [i if not self.running[i].finished else next(tail) for i in range(alive)]
        plan = StepPlan(keep, left=[s for s in self.running if s.finished])
        rows = [self.running[i] for i in keep]
        deferred = deque()
        while self.waiting:
            request = self.waiting.popleft()
            if request.finished:  # aborted while waiting
                self._forget(request)
                continue
            if rows and len(rows) + len(request.seqs) > self.max_rows:
                deferred.append(request)  # first come, first served: nothing behind it jumps the queue
                deferred.extend(self.waiting)
                self.waiting.clear()
                break
            if request.fork_of is not None:
                source = request.fork_of
                if source.finished or source not in rows:
                    for seq in request.seqs:  # its source ended before the fork could copy its KV
                        seq.finish_reason = "abort"
                    self._forget(request)
                    continue
                plan.joining.append((request, rows.index(source)))
            else:
                plan.joining.append((request, None))
            rows.extend(request.seqs)
        self.waiting = deferred
        plan.rows = self.running = rows
        for seq in plan.left:
            if seq.request.finished:
                self._forget(seq.request)
        return plan

    def _forget(self, request: Request) -> None:
        self.requests.pop(request.request_id, None)
