"""A pool of replicas on Ray: each replica an actor holding its own Runtime (ponder's engine, or a client of a
remote server), given whole units of work (a strategy run, a stream of samples), each sent to the replica with the
least work in flight. A replica that dies has its work done again elsewhere.

The pool is a Runtime (the same face as ponder.runtime.Runtime: check, solve, generator, load, close), so the
command line and the server use it as they use one engine:

    pool = ReplicaPool(2, Choice(model="ponder-arith"), ["vote"])     # a local Ray cluster, or address="auto"
    summary = evaluate("arith", problems, "vote", pool, config)                 # eval/runner.py
    result = await pool.solve(problem, "vote", config)                         # one strategy run (ponder serve)
    stream = await pool.generator.submit(prompt, SamplingParams(n=4))          # plain sampling

Ray is an extra (`pip install 'ponder[ray]'`), imported only here.
"""

from __future__ import annotations

import asyncio
import os
from typing import Iterable

from ponder.backends.base import Prompt, SampleEvent, SamplingParams, Stream, TokenUsage
from ponder.errors import InvalidArgumentError, PonderError, ReplicasGone
from ponder.runtime import Choice, Observe, Runtime, check, plan
from ponder.strategies import Result, Strategy, StrategyConfig
from ponder.tasks.base import Problem


class Replica:
    """One replica (a Ray actor; its methods run concurrently on the actor's event loop, so the units sent to
    it share its engine's batch)."""

    def __init__(self, choice: Choice, strategies: list[str], plain: bool, threads: int):
        import torch

        torch.set_num_threads(threads)
        self.runtime = Runtime(choice, strategies, plain=plain)

    def pid(self) -> int:
        return os.getpid()

    async def solve(self, problem, strategy: str, config, verifier: str | None = None) -> Result:
        return await self.runtime.solve(problem, strategy, config, verifier=verifier)

    async def score(self, prompt, continuation, prefix: str = ""):
        return await self.runtime.generator.score(prompt, continuation, prefix)

    async def stream(self, prompt, params, prefix: str = ""):
        """The samples' events in batches (whatever arrived since the last batch went out): one Ray object per
        batch, not per token. The first item is the prompt's token count, reasoning markers and whether the prompt
        opened a think block. Cancelled (the caller's stream
        aborted, or its client gone), it aborts the samples still running."""
        stream = await self.runtime.generator.submit(prompt, params, prefix)
        yield stream.usage.prompt, stream.markers, stream.opened
        queue: asyncio.Queue = asyncio.Queue()

        async def pump():
            try:
                async for event in stream:
                    queue.put_nowait(event)
            except Exception as error:  # the caller gets it (the backend failed), rather than waiting forever
                queue.put_nowait(error)
            finally:
                queue.put_nowait(None)
        task = asyncio.ensure_future(pump())
        try:
            done = False
            while not done:
                batch = [await queue.get()]
                while not queue.empty():
                    batch.append(queue.get_nowait())
                for item in batch:
                    if isinstance(item, Exception):
                        raise item
                done = batch[-1] is None
                yield [event for event in batch if event is not None]
        finally:
            task.cancel()
            await asyncio.shield(stream.abort())
            await asyncio.gather(task, return_exceptions=True)

    def load(self) -> dict:
        return self.runtime.load()


class ReplicaPool:
    """`replicas` Replica actors on a Ray cluster, each with a Runtime built from `choice` for `strategies` (and
    `plain` sampling, as Runtime):
    `address` None or "local" starts a cluster on this machine (each replica gets an equal share of its CPUs);
    "auto" or ray://HOST:PORT joins a running one."""

    def __init__(self, replicas: int, choice: Choice = Choice(), strategies: Iterable[str] = (), *,
                 plain: bool = False, address: str | None = None):
        if replicas < 1:
            raise InvalidArgumentError(f"replicas={replicas} must be >= 1")
        try:
            import ray
        except ImportError:
            raise InvalidArgumentError("replicas run on Ray: pip install 'ponder[ray]'") from None
        strategies = list(strategies)
        plan(choice, strategies, plain)  # here, as one clear error, not inside an actor
        self.choice = choice
        self._ray = ray
        self._started_ray = not ray.is_initialized()
        if self._started_ray:
            ray.init(address=None if address in (None, "local") else address, include_dashboard=False,
                     logging_level="ERROR", log_to_driver=False, configure_logging=False)
        share = ray.cluster_resources().get("CPU", 1.0) / replicas
        actor = ray.remote(Replica).options(num_cpus=share, max_concurrency=10_000)
        self.replicas = [actor.remote(choice, strategies, plain, max(1, int(share))) for _ in range(replicas)]
        try:
            self.pids = ray.get([r.pid.remote() for r in self.replicas])  # every replica up, its model loaded
        except ray.exceptions.RayActorError as error:
            self.close()
            raise PonderError(f"a replica failed to start: {str(error).strip().splitlines()[-1]}") from None
        self.in_flight = [0] * replicas
        self.alive = [True] * replicas
        self.retried = 0  # units done again elsewhere after their replica died
        self.generator = ReplicaGenerator(self)

    def check(self, strategy: str, verifier: str | None = None) -> tuple[Strategy, str | None]:
        """As Runtime.check, by the names alone (the replicas load the verifier)."""
        return check(self.choice, strategy, verifier)

    async def solve(self, problem: Problem, strategy: str, config: StrategyConfig, *, verifier: str | None = None,
                    observe: Observe | None = None) -> Result:
        """One strategy run on the least-loaded replica; its Result. The run samples on the replica, so `observe`
        sees nothing of it (a server streams no progress through a pool, only heartbeats)."""
        self.check(strategy, verifier)
        return await self._call("solve", problem, strategy, config, verifier)

    def verifier(self, name: str | None):
        """The verifiers live on the replicas."""
        if name is not None:
            raise InvalidArgumentError("a replica pool's verifiers run on its replicas; draw sample pools (--pool) "
                                       "on one engine")

    def load(self) -> dict:
        """The engine rows of every live replica, summed (as LocalGenerator.load); a replica that does not answer
        within a second counts as empty."""
        loads = []
        for replica, alive in zip(self.replicas, self.alive):
            if alive:
                try:
                    loads.append(self._ray.get(replica.load.remote(), timeout=1.0))
                except Exception:  # dead, or busy past the timeout: a scrape must neither fail nor hang on it
                    pass
        return {key: sum(load.get(key, 0) for load in loads) for key in ("active_rows", "waiting_rows",
                                                                          "samples_aborted", "tokens_generated")}

    def close(self) -> None:
        for replica in self.replicas:
            self._ray.kill(replica)
        if self._started_ray:
            self._ray.shutdown()

    def __enter__(self) -> ReplicaPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _pick(self) -> int:
        live = [i for i, alive in enumerate(self.alive) if alive]
        if not live:
            raise ReplicasGone("every replica has died")
        return min(live, key=lambda i: self.in_flight[i])

    async def _call(self, method: str, *args):
        """`method` on the least-loaded live replica; if that replica dies first, again on another."""
        while True:
            i = self._pick()
            self.in_flight[i] += 1
            ref = getattr(self.replicas[i], method).remote(*args)
            try:
                return await self._await(i, ref)
            except _Died:
                self.retried += 1
            except asyncio.CancelledError:  # the caller gave up (a client gone): so does the replica
                self._ray.cancel(ref)
                raise
            finally:
                self.in_flight[i] -= 1

    async def _await(self, i: int, ref):
        from ray.exceptions import RayActorError, RayTaskError

        try:
            return await ref
        except RayActorError:
            self.alive[i] = False
            raise _Died() from None
        except RayTaskError as error:  # the replica raised: the same error here (a bad option, a long prompt)
            cause = error.cause if isinstance(getattr(error, "cause", None), BaseException) else None
            raise (cause or PonderError(str(error))) from None


class ReplicaGenerator:
    """The Generator protocol over a pool's replicas, for plain sampling (ponder serve's plain model) and scoring:
    each request on the least-loaded replica."""

    def __init__(self, pool: ReplicaPool):
        from ponder.models import resolve

        self.pool = pool
        self.name = pool.choice.model
        self.usage = TokenUsage()
        self.tokenizer = None
        if not pool.choice.remote:
            from transformers import AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(resolve(pool.choice.model))

    async def score(self, prompt: Prompt, continuation, prefix: str = ""):
        return await self.pool._call("score", prompt, continuation, prefix)

    async def submit(self, prompt: Prompt, params: SamplingParams, prefix: str = "") -> Stream:
        """Plain sampling on the least-loaded replica, streamed back in batches of events. A replica that dies
        before the stream starts is passed over; after, its samples end as aborted (a stream already read from
        cannot be replayed). Aborted whole only (ponder serve's use): one remote sample cannot be stopped alone."""
        pool = self.pool
        while True:
            i = pool._pick()
            pool.in_flight[i] += 1
            batches = pool.replicas[i].stream.options(num_returns="streaming").remote(prompt, params, prefix)
            try:
                prompt_tokens, markers, opened = await pool._await(i, await batches.__anext__())
                break
            except _Died:
                pool.in_flight[i] -= 1
                pool.retried += 1
            except BaseException:
                pool.in_flight[i] -= 1
                raise
        released = []

        def release() -> None:  # once: when the last sample has ended, or the stream is aborted or cut off
            if not released:
                released.append(True)
                pool.in_flight[i] -= 1

        async def events():
            from ray.exceptions import TaskCancelledError

            ended = set()
            try:
                async for ref in batches:
                    for event in await pool._await(i, ref):
                        if event.finished:
                            ended.add(event.index)
                            if len(ended) == params.n:
                                release()
                        yield event
            except (_Died, TaskCancelledError):
                pass
            finally:
                release()
            for index in sorted(set(range(params.n)) - ended):  # cut off: each sample still ends
                yield SampleEvent(-1, index, [], "", [], finish_reason="abort")

        async def abort(index: int | None) -> None:
            if index is not None:
                raise InvalidArgumentError("a replica's stream is aborted whole, not one sample at a time")
            pool._ray.cancel(batches)  # cancels the replica's stream, which aborts its samples there
            release()

        return Stream(events(), params.n, prompt_tokens, abort=abort, sink=self.usage, markers=markers,
                      opened=opened, prefix=prefix)

    def load(self) -> dict:
        return self.pool.load()

    def close(self) -> None:
        """The pool closes its replicas."""


class _Died(Exception):
    """A replica died while a unit was on it."""
