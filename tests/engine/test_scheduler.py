"""Scheduler.schedule on plain requests (no model, no tensors): exact rows, slots, joins and bounds."""

import pytest

from ponder.engine.request import Request
from ponder.sampling import SamplingParams
from ponder.engine.scheduler import Scheduler
from ponder.errors import InvalidArgumentError


def request(request_id, n, prompt=4, max_tokens=8):
    return Request(request_id, list(range(1, prompt + 1)), SamplingParams(n=n, max_tokens=max_tokens), list(range(n)))


def rows(plan):
    return [(s.request.request_id, s.index) for s in plan.rows]


def joins(plan):
    return [(j.request.request_id, [s.index for s in j.seqs], j.more) for j in plan.joining]


def finish(scheduler, *samples):
    for request_id, index in samples:
        scheduler.requests[request_id].seqs[index].finish_reason = "stop"


def test_requests_join_in_order_and_the_one_that_does_not_fit_joins_in_part():
    scheduler = Scheduler(max_rows=4)
    scheduler.add(request(0, 2))
    scheduler.add(request(1, 3))
    scheduler.add(request(2, 1))
    plan = scheduler.schedule()
    assert plan.keep == [] and plan.left == []
    assert joins(plan) == [(0, [0, 1], False), (1, [0, 1], True)]
    assert rows(plan) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert [r.request_id for r in scheduler.waiting] == [1, 2]  # request 2 does not jump the queue
    assert scheduler.waiting_rows == 2
    # a full batch with nothing finished: the same rows again, nothing joins
    plan = scheduler.schedule()
    assert plan.keep == [0, 1, 2, 3] and joins(plan) == [] and rows(plan) == [(0, 0), (0, 1), (1, 0), (1, 1)]


def test_a_freed_slot_takes_the_last_row_and_newcomers_append():
    scheduler = Scheduler(max_rows=4)
    scheduler.add(request(0, 2))
    scheduler.add(request(1, 3))
    scheduler.add(request(2, 1))
    scheduler.schedule()
    finish(scheduler, (0, 0))
    plan = scheduler.schedule()
    # slot 0 is refilled from the end (row 3), slots 1 and 2 stay; the last sample of request 1 appends
    assert plan.keep == [3, 1, 2] and [(s.request.request_id, s.index) for s in plan.left] == [(0, 0)]
    assert joins(plan) == [(1, [2], False)]
    assert rows(plan) == [(1, 1), (0, 1), (1, 0), (1, 2)]
    assert [r.request_id for r in scheduler.waiting] == [2]
    finish(scheduler, (0, 1), (1, 1))
    plan = scheduler.schedule()
    # two rows left from slots 0 and 1; the rows beyond the alive ones (slots 2, 3) fill them, in order
    assert plan.keep == [2, 3] and joins(plan) == [(2, [0], False)]
    assert rows(plan) == [(1, 0), (1, 2), (2, 0)]
    assert 0 not in scheduler.requests  # every sample of request 0 has left: it is forgotten
    assert not scheduler.waiting and scheduler.waiting_rows == 0


def test_an_abort_frees_rows_at_the_next_step_and_forgets_the_request():
    scheduler = Scheduler(max_rows=8)
    scheduler.add(request(0, 3))
    scheduler.add(request(1, 2))
    scheduler.schedule()
    aborted = scheduler.abort(0, index=1)
    assert [(s.request.request_id, s.index) for s in aborted] == [(0, 1)]
    assert scheduler.abort(0, index=1) == [] and scheduler.abort(0, index=7) == [] and scheduler.abort(9) == []
    plan = scheduler.schedule()
    assert plan.keep == [0, 4, 2, 3] and rows(plan) == [(0, 0), (1, 1), (0, 2), (1, 0)]
    assert [s.finish_reason for s in plan.left] == ["abort"]
    scheduler.abort(1)
    plan = scheduler.schedule()
    assert plan.keep == [0, 2] and rows(plan) == [(0, 0), (0, 2)]
    assert sorted(scheduler.requests) == [0]
    scheduler.abort(0)
    plan = scheduler.schedule()
    assert plan.keep == [] and rows(plan) == [] and scheduler.requests == {} and not scheduler.has_work


def test_samples_aborted_while_they_wait_never_join():
    scheduler = Scheduler(max_rows=2)
    scheduler.add(request(0, 5))
    scheduler.add(request(1, 1))
    assert joins(scheduler.schedule()) == [(0, [0, 1], True)]
    scheduler.abort(0, index=2)
    scheduler.abort(0, index=3)
    finish(scheduler, (0, 0), (0, 1))
    plan = scheduler.schedule()
    # samples 2 and 3 are passed over: sample 4 joins, and request 1 with it
    assert joins(plan) == [(0, [4], False), (1, [0], False)] and rows(plan) == [(0, 4), (1, 0)]
    assert plan.released == []


def test_a_request_whose_waiting_samples_are_all_aborted_leaves_the_queue_and_releases_its_prompt():
    scheduler = Scheduler(max_rows=2)
    scheduler.add(request(0, 4))
    scheduler.add(request(1, 1))
    scheduler.schedule()
    scheduler.abort(0, index=2)
    scheduler.abort(0, index=3)
    plan = scheduler.schedule()  # its running rows go on; it leaves the queue, so request 1 may go next
    assert plan.released == [0] and joins(plan) == [] and rows(plan) == [(0, 0), (0, 1)]
    assert [r.request_id for r in scheduler.waiting] == [1] and 0 in scheduler.requests
    finish(scheduler, (0, 0))
    plan = scheduler.schedule()
    assert joins(plan) == [(1, [0], False)] and rows(plan) == [(0, 1), (1, 0)]


def test_a_huge_request_runs_in_waves_of_at_most_max_rows_and_every_sample_finishes():
    scheduler = Scheduler(max_rows=8)
    big = request(0, 100_000)
    scheduler.add(big)
    scheduler.add(request(1, 3))
    joined, steps, most = [], 0, 0
    while scheduler.has_work:
        plan = scheduler.schedule()
        steps += 1
        most = max(most, len(plan.rows))
        joined += [(j.request.request_id, s.index) for j in plan.joining for s in j.seqs]
        assert sum(j.more for j in plan.joining) <= 1  # one request at most is part-way in
        for seq in plan.rows:  # every row finishes after one step
            seq.finish_reason = "length"
    assert most == 8
    assert joined == [(0, i) for i in range(100_000)] + [(1, 0), (1, 1), (1, 2)]
    assert steps == 12_501  # 12,500 full waves, then the small request
    assert big.finished and big.admitted == 100_000 and list(scheduler.requests) == [1]
    plan = scheduler.schedule()  # the last rows leave
    assert len(plan.left) == 3 and plan.rows == [] and scheduler.requests == {}


def test_the_kv_bound_limits_rows_by_the_longest_reservation():
    scheduler = Scheduler(max_rows=10, max_kv_tokens=100)
    scheduler.add(request(0, 5, prompt=10, max_tokens=15))  # reserves 25 columns a row: 4 rows fit
    scheduler.add(request(1, 1, prompt=10, max_tokens=40))  # 50 a row: 2 rows at most in the batch with it
    plan = scheduler.schedule()
    assert joins(plan) == [(0, [0, 1, 2, 3], True)] and plan.capacity == 4
    finish(scheduler, (0, 0), (0, 1))
    plan = scheduler.schedule()
    # 2 rows + 1 more of 25 fits (3 x 25 = 75); request 1 (50 a row) would make 4 x 50 = 200 > 100: it waits
    assert joins(plan) == [(0, [4], False)] and rows(plan) == [(0, 2), (0, 3), (0, 4)]
    finish(scheduler, (0, 2))
    plan = scheduler.schedule()
    # 2 running rows + 1 of 50 = 3 x 50 = 150 > 100: still waiting
    assert joins(plan) == [] and rows(plan) == [(0, 4), (0, 3)]
    finish(scheduler, (0, 3))
    plan = scheduler.schedule()
    assert joins(plan) == [(1, [0], False)] and rows(plan) == [(0, 4), (1, 0)] and plan.capacity == 2


def test_a_request_whose_one_sample_could_outgrow_the_kv_bound_is_refused():
    scheduler = Scheduler(max_rows=4, max_kv_tokens=100)
    with pytest.raises(InvalidArgumentError, match=r"may reach 108 tokens .* holds \(100 tokens\)"):
        scheduler.add(request(0, 1, prompt=8, max_tokens=100))
    assert not scheduler.waiting and not scheduler.requests
    with pytest.raises(InvalidArgumentError, match="max_rows=0"):
        Scheduler(max_rows=0)
