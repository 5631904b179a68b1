"""A pool of generator replicas on Ray: each replica an actor holding its own generator (ponder's engine, or a
client of a remote server), given whole units of work (a problem, a request's strategy run, a stream of samples),
each sent to the replica with the least work in flight. A replica that dies has its work done again elsewhere.

    pool = ReplicaPool(2, ReplicaSpec(model="ponder-arith"))          # a local Ray cluster, or address="auto"
    summary = evaluate("arith", problems, "vote", None, config, replica_pool=pool)   # eval/runner.py
    result = await pool.run(problem, "vote", config)                   # one strategy run (ponder serve)
    stream = await pool.submit(prompt, SamplingParams(n=4))            # the Generator protocol, for plain sampling

Ray is an extra (`pip install 'ponder[ray]'`), imported only here.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, replace

from ponder.backends.base import Prompt, SampleEvent, SamplingParams, Stream, TokenUsage
from ponder.errors import InvalidArgumentError, PonderError
from ponder.models import DEFAULT_MODEL


class ReplicasGone(PonderError):
    """Every replica of the pool has died."""

    code = "replicas_gone"


@dataclass(frozen=True)
class ReplicaSpec:
    """What each replica builds for itself (backends.load_generators and verifiers.load, as the command line)."""

    backend: str = "local"
    model: str = DEFAULT_MODEL
    seed: int = 0
    device: str = "cpu"
    draft: str | None = None
    strategy: str = "vote"
    verifier: str | None = None
    threads: int = 1  # torch threads of a local engine


class Replica:
    """One replica (a Ray actor; its methods run concurrently on the actor's event loop, so the units sent to
    it share its engine's batch)."""

    def __init__(self, spec: ReplicaSpec):
        import torch

        from ponder.backends import load_generators

        torch.set_num_threads(spec.threads)
        self.spec = spec
        self.generator, self.drafter = load_generators(spec.backend, spec.model, spec.seed, spec.device, spec.draft,
                                                       spec.strategy)
        self.verifiers: dict = {}

    def pid(self) -> int:
        return os.getpid()

    def _verifier(self, name: str | None):
        if name is not None and name not in self.verifiers:
            from ponder.verifiers import load

            self.verifiers[name] = load(name, device=self.spec.device, generator=self.generator)
        return self.verifiers.get(name)

    def _config(self, strategy: str, config):
        return replace(config, draft=self.drafter if strategy == "spec-reason" else None)

    async def solve(self, problem, strategy: str, config) -> dict:
        from ponder.eval.runner import solve

        return await solve(problem, strategy, self.generator, self._verifier(self.spec.verifier),
                           self._config(strategy, config))

    async def run(self, problem, strategy: str, config, verifier: str | None = None):
        from ponder.strategies import STRATEGIES

        return await STRATEGIES[strategy](problem, self.generator, self._verifier(verifier),
                                          self._config(strategy, config))

    async def score(self, prompt, continuation, prefix: str = ""):
        return await self.generator.score(prompt, continuation, prefix)

    async def stream(self, prompt, params, prefix: str = ""):
        """The samples' events in batches (whatever arrived since the last batch went out): one Ray object per
        batch, not per token. The first item is the prompt's token count. Cancelled (the caller's stream
        aborted, or its client gone), it aborts the samples still running."""
        stream = await self.generator.submit(prompt, params, prefix)
        yield stream.usage.prompt
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
        return self.generator.load() if hasattr(self.generator, "load") else {}


class ReplicaPool:
    """`replicas` Replica actors on a Ray cluster: `address` None or "local" starts one on this machine (each
    replica gets an equal share of its CPUs); "auto" or ray://HOST:PORT joins a running one."""

    def __init__(self, replicas: int, spec: ReplicaSpec = ReplicaSpec(), address: str | None = None):
        if replicas < 1:
            raise InvalidArgumentError(f"replicas={replicas} must be >= 1")
        try:
            import ray
        except ImportError:
            raise InvalidArgumentError("replicas run on Ray: pip install 'ponder[ray]'") from None
        from ponder.backends import check_backend
        from ponder.models import resolve

        check_backend(spec.backend, spec.draft, spec.strategy)  # here, as one clear error, not inside an actor
        if spec.backend == "local":
            resolve(spec.model)
        if spec.draft is not None:
            resolve(spec.draft)
        self._ray = ray
        self._started_ray = not ray.is_initialized()
        if self._started_ray:
            ray.init(address=None if address in (None, "local") else address, include_dashboard=False,
                     logging_level="ERROR", log_to_driver=False, configure_logging=False)
        cpus = ray.cluster_resources().get("CPU", 1.0)
        share = cpus / replicas
        spec = replace(spec, threads=max(1, int(share)))
        actor = ray.remote(Replica).options(num_cpus=share, max_concurrency=10_000)
        self.spec = spec
        self.replicas = [actor.remote(spec) for _ in range(replicas)]
        try:
            self.pids = ray.get([r.pid.remote() for r in self.replicas])  # every replica up, its model loaded
        except ray.exceptions.RayActorError as error:
            self.close()
            raise PonderError(f"a replica failed to start: {str(error).strip().splitlines()[-1]}") from None
        self.in_flight = [0] * replicas
        self.alive = [True] * replicas
        self.retried = 0  # units done again elsewhere after their replica died
        self.name = spec.model
        self.usage = TokenUsage()
        self.tokenizer = None
        if spec.backend == "local":
            from transformers import AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(resolve(spec.model))

    async def solve(self, problem, strategy: str, config) -> dict:
        """One eval unit (eval/runner.py's solve) on the least-loaded replica; its record."""
        return await self._call("solve", problem, strategy, config)

    async def run(self, problem, strategy: str, config, verifier: str | None = None):
        """One strategy run on the least-loaded replica; its Result."""
        return await self._call("run", problem, strategy, config, verifier)

    async def score(self, prompt: Prompt, continuation, prefix: str = ""):
        return await self._call("score", prompt, continuation, prefix)

    async def submit(self, prompt: Prompt, params: SamplingParams, prefix: str = "") -> Stream:
        """Plain sampling on the least-loaded replica, streamed back in batches of events. A replica that dies
        before the stream starts is passed over; after, its samples end as aborted (a stream already read from
        cannot be replayed). Aborted whole only (ponder serve's use): one remote sample cannot be stopped alone."""
        while True:
            i = self._pick()
            self.in_flight[i] += 1
            batches = self.replicas[i].stream.options(num_returns="streaming").remote(prompt, params, prefix)
            try:
                prompt_tokens = await self._await(i, await batches.__anext__())
                break
            except _Died:
                self.in_flight[i] -= 1
                self.retried += 1
            except BaseException:
                self.in_flight[i] -= 1
                raise
        released = []

        def release() -> None:  # once: when the last sample has ended, or the stream is aborted or cut off
            if not released:
                released.append(True)
                self.in_flight[i] -= 1

        async def events():
            from ray.exceptions import TaskCancelledError

            ended = set()
            try:
                async for ref in batches:
                    for event in await self._await(i, ref):
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
            self._ray.cancel(batches)  # cancels the replica's stream, which aborts its samples there
            release()

        return Stream(events(), params.n, prompt_tokens, abort=abort, sink=self.usage)

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


class _Died(Exception):
    """A replica died while a unit was on it."""
