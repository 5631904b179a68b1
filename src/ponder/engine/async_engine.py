"""AsyncEngine: the engine's step loop on a worker thread, driven from asyncio.

Callers submit, abort and score from any number of asyncio tasks; each call is handed to the worker
thread through an inbox and runs between two steps, so the engine itself is only ever touched by one thread.
A request's events come back on its `RequestStream`.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any, Callable

from ponder.engine.engine import LLMEngine, SampleOutput
from ponder.errors import EngineDeadError
from ponder.sampling import SampleEvent, SamplingParams


class RequestStream:
    """The events of one request's samples, in order, until every sample has finished.

    Example:
        >>> stream = await engine.submit(prompt, SamplingParams(n=4))
        >>> async for event in stream:
        ...     print(event.index, event.text, event.finish_reason)
    """

    def __init__(self, request_id: int, n: int):
        self.request_id = request_id
        self.n = n
        self.open = n  # samples not finished yet
        self._queue: asyncio.Queue = asyncio.Queue()

    def _put(self, items: list) -> None:
        for item in items:
            self._queue.put_nowait(item)

    def __aiter__(self):
        return self

    async def __anext__(self) -> SampleEvent:
        if self.open == 0:
            raise StopAsyncIteration
        item = await self._queue.get()
        if isinstance(item, BaseException):
            self.open = 0
            raise item
        if item.finished:
            self.open -= 1
        return item

    async def collect(self) -> list[SampleOutput]:
        """Wait for every sample; returns them finished, in index order."""
        tokens: dict[int, list[int]] = {i: [] for i in range(self.n)}
        texts: dict[int, list[str]] = {i: [] for i in range(self.n)}
        logprob = dict.fromkeys(range(self.n), 0.0)
        reason: dict[int, str] = {}
        async for event in self:
            tokens[event.index] += event.token_ids
            texts[event.index].append(event.text)
            logprob[event.index] += sum(event.logprobs)
            if event.finished:
                reason[event.index] = event.finish_reason
        return [SampleOutput(i, tokens[i], "".join(texts[i]), reason[i], round(logprob[i], 4)) for i in range(self.n)]


class AsyncEngine:
    """An LLMEngine served to asyncio code from a worker thread.

    Args:
        engine: the engine to drive; nothing else may touch it while this runs.

    Example:
        >>> engine = AsyncEngine(LLMEngine.from_pretrained(path))
        >>> samples = await (await engine.submit(prompt, SamplingParams(n=8))).collect()
        >>> engine.close()
    """

    def __init__(self, engine: LLMEngine):
        self.engine = engine
        self._inbox: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._streams: dict[int, tuple[asyncio.AbstractEventLoop, RequestStream]] = {}
        self._running: dict[int, int] = {}  # request id -> its samples not finished yet
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="ponder-engine", daemon=True)
        self._thread.start()

    # -- the API (from asyncio) -------------------------------------------------------------------------------

    async def submit(self, prompt: str | list[int], params: SamplingParams) -> RequestStream:
        """Queue a prompt for `params.n` samples; returns its stream at once (prompt errors raise here)."""
        loop = asyncio.get_running_loop()
        return await self._call(lambda: self._open(self.engine.add_request(prompt, params), params.n, loop))

    async def abort(self, request_id: int, index: int | None = None) -> None:
        """Stop a request or one of its samples; its rows leave the batch before the next step."""
        await self._call(lambda: self._dispatch(self.engine.abort(request_id, index)))

    async def score(self, prompt: str | list[int], continuation: str | list[int]) -> list[float]:
        """Per-token logprobs of `continuation` after `prompt`, without generating."""
        return await self._call(lambda: self.engine.score(prompt, continuation))

    async def generate(self, prompt: str | list[int], params: SamplingParams) -> list[SampleOutput]:
        """Submit and wait for every sample. If the caller is cancelled, its samples are aborted."""
        stream = await self.submit(prompt, params)
        try:
            return await stream.collect()
        except asyncio.CancelledError:
            self._inbox.put(lambda: self._dispatch(self.engine.abort(stream.request_id)))
            self._wake.set()
            raise

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=10)

    # -- the worker thread ------------------------------------------------------------------------------------

    async def _call(self, fn: Callable[[], Any]) -> Any:
        if self._error is not None or self._closed:
            raise EngineDeadError(f"the engine is not running: {self._error or 'closed'}")
        loop = asyncio.get_running_loop()
        future = loop.create_future()

        def settle(result: Any, error: BaseException | None) -> None:  # on the caller's loop
            if not future.cancelled():
                future.set_exception(error) if error is not None else future.set_result(result)
            elif isinstance(result, RequestStream):  # its caller was cancelled while it opened: no one will
                self._inbox.put(lambda: self._dispatch(self.engine.abort(result.request_id)))  # read or stop it
                self._wake.set()

        def run():
            try:
                result = fn()
            except BaseException as error:  # handed to the caller, whose request alone failed
                _post(loop, settle, None, error)
            else:
                _post(loop, settle, result, None)
        self._inbox.put(run)
        self._wake.set()
        return await future

    def _loop(self) -> None:
        try:
            while not self._closed:
                while True:
                    try:
                        self._inbox.get_nowait()()
                    except queue.Empty:
                        break
                if self.engine.has_unfinished():
                    self._dispatch(self.engine.step())
                else:
                    self._wake.wait()
                    self._wake.clear()
        except BaseException as error:  # the engine is broken: every open stream learns it
            self._error = error
            dead = EngineDeadError(f"the engine failed: {error!r}")
            for loop, stream in self._streams.values():
                _post(loop, stream._put, [dead])
            self._streams.clear()

    def _open(self, request_id: int, n: int, loop: asyncio.AbstractEventLoop) -> RequestStream:
        stream = RequestStream(request_id, n)
        self._streams[request_id] = (loop, stream)
        self._running[request_id] = n
        return stream

    def _dispatch(self, events: list[SampleEvent]) -> None:
        by_request: dict[int, list[SampleEvent]] = {}
        for event in events:
            by_request.setdefault(event.request_id, []).append(event)
        for request_id, batch in by_request.items():
            loop, stream = self._streams[request_id]
            self._running[request_id] -= sum(e.finished for e in batch)
            if self._running[request_id] == 0:
                del self._streams[request_id], self._running[request_id]
            if not _post(loop, stream._put, batch) and request_id in self._streams:
                # its caller's event loop has closed (asyncio.run ended on an error): no one will read it
                del self._streams[request_id], self._running[request_id]
                self.engine.abort(request_id)


def _post(loop: asyncio.AbstractEventLoop, fn: Callable, *args) -> bool:
    """Hand fn(*args) to an event loop from the worker thread; False if that loop has closed."""
    try:
        loop.call_soon_threadsafe(fn, *args)
        return True
    except RuntimeError:
        return False
