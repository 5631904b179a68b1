"""Requests to strategies: a chat or text completion runs the strategy its model name (or `ponder` object)
asks for, `n` times at once, and answers with each run's chosen candidate.

    serving = Serving(LocalGenerator("ponder-arith"), "ponder-arith", Limits())
    body = await serving.complete(ChatCompletionRequest(model="vote@8/ponder-arith", messages=[...]))
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field, replace
from typing import Any, AsyncIterator

from ponder.backends.base import Generator, Prompt, SamplingParams
from ponder.errors import InvalidArgumentError, PonderError
from ponder.live import Watched
from ponder.server.protocol import (ChatCompletionRequest, CompletionRequest, Route, completion_id, now,
                                    parse_model)
from ponder.strategies import STRATEGIES, Result, StrategyConfig
from ponder.tasks.base import Problem, extract_math


class ModelNotServedError(PonderError):
    """The request names a model this server does not serve (HTTP 404)."""

    code = "model_not_found"


class OverloadedError(PonderError):
    """Every slot is busy and the queue is full (HTTP 429, with Retry-After)."""

    code = "overloaded"


HEARTBEAT_S = 0.25  # while a stream waits for its strategies, how often it checks that its client is still there


@dataclass(frozen=True)
class Limits:
    """What one request may ask for; beyond it, a 400 that names the limit."""

    max_n: int = 16
    max_budget: int = 64
    max_tokens: int = 1024
    max_running: int = 64  # requests served at once (their samples share the engine's batch)
    max_queue: int = 256  # requests waiting for a slot; one more is refused with 429


@dataclass(frozen=True)
class RequestProblem(Problem):
    """A request as a problem: its prompt as the client sent it (chat messages or a text), answers read the way
    a math answer is (the last \\boxed{}, "Answer: N", "the answer is ...", else the last number)."""

    messages: Any = field(default=None, repr=False)

    def prompt(self) -> Prompt:
        return self.messages

    def extract(self, text: str) -> Any:
        return extract_math(text)


class Serving:
    def __init__(self, generator: Generator, model: str, limits: Limits = Limits(), verifiers: dict | None = None):
        self.generator = generator
        self.model = model
        self.limits = limits
        self.verifiers = verifiers if verifiers is not None else {}
        self.metrics = Metrics(self)
        self.waiting = 0  # requests queued for a slot
        self._slots = asyncio.Semaphore(limits.max_running)

    async def complete(self, request: ChatCompletionRequest | CompletionRequest) -> dict:
        """The whole response body, once every run has decided."""
        chat = isinstance(request, ChatCompletionRequest)
        route, config, verifier = self._plan(request)
        self._check_queue()
        async with self._slot():
            started = time.perf_counter()
            results = await self._run(request, route, config, verifier)
        self.metrics.done(*_spent(results), time.perf_counter() - started)
        return {
            "id": completion_id("chatcmpl" if chat else "cmpl"),
            "object": "chat.completion" if chat else "text_completion",
            "created": now(),
            "model": request.model,
            "choices": [_choice(i, result, chat) for i, result in enumerate(results)],
            "usage": _usage(*_spent(results)),
            "ponder": _report(route, config, results),
        }

    async def stream(self, request: ChatCompletionRequest | CompletionRequest) -> AsyncIterator[str]:
        """Server-sent events in OpenAI's chunk format: the role at once; while the strategies run, progress chunks
        (no choices; `ponder`: samples started and finished, the tally of their answers); each choice's text as
        soon as its run has decided; then the finish reasons, usage and ponder's report; then [DONE]."""
        chat = isinstance(request, ChatCompletionRequest)
        route, config, verifier = self._plan(request)  # a bad request fails here, before the stream starts
        self._check_queue()
        base = {"id": completion_id("chatcmpl" if chat else "cmpl"),
                "object": "chat.completion.chunk" if chat else "text_completion", "created": now(),
                "model": request.model}

        async def events() -> AsyncIterator[str]:
            try:
                async for chunk in chunks():
                    yield chunk
            except PonderError as error:  # after the headers: the error goes out as an event (OpenAI's way)
                yield _sse({"error": {**error.to_dict(), "type": "invalid_request_error"
                                      if isinstance(error, InvalidArgumentError) else "server_error", "param": None}})

        async def chunks() -> AsyncIterator[str]:
            if chat:
                yield _sse(base | {"choices": [{"index": i, "delta": {"role": "assistant", "content": ""},
                                                "finish_reason": None} for i in range(request.n)]})
            if route.strategy == "single":  # nothing to decide: every token goes out as it is made
                async for chunk in self._stream_samples(request, config, base, chat):
                    yield chunk
                return
            async with self._slot():
                started = time.perf_counter()
                watched = Watched(self.generator, extract_math, request.model)  # counts, for progress chunks
                runs = [asyncio.ensure_future(self._one(request, route, config, verifier, i, watched))
                        for i in range(request.n)]
                sent = None
                try:
                    results: list[Result | None] = [None] * request.n
                    pending = set(runs)
                    while pending:
                        done, pending = await asyncio.wait(pending, timeout=HEARTBEAT_S,
                                                           return_when=asyncio.FIRST_COMPLETED)
                        if not done:  # progress (or an SSE comment, which clients ignore): writing something
                            progress = watched.progress()  # is how a client gone away is noticed
                            yield _sse(base | {"choices": [], "ponder": progress}) if progress != sent \
                                else ": deciding\n\n"
                            sent = progress
                        for task in done:
                            i, result = task.result()
                            results[i] = result
                            text, _ = _text(result)
                            piece = {"delta": {"content": text}} if chat else {"text": text}
                            yield _sse(base | {"choices": [{"index": i, **piece, "finish_reason": None}],
                                               "ponder": {"runs_decided": sum(r is not None for r in results)}})
                    self.metrics.done(*_spent(results), time.perf_counter() - started)
                    yield _sse(base | {"choices": [{"index": i, **({"delta": {}} if chat else {"text": ""}),
                                                    "finish_reason": _text(r)[1]} for i, r in enumerate(results)],
                                       "usage": _usage(*_spent(results)),
                                       "ponder": _report(route, config, results)})
                    yield "data: [DONE]\n\n"
                finally:  # a client that went away: its runs are cancelled, and their samples aborted
                    for run in runs:
                        run.cancel()
                    await asyncio.gather(*runs, return_exceptions=True)
        return events()

    async def _stream_samples(self, request, config: StrategyConfig, base: dict, chat: bool) -> AsyncIterator[str]:
        """`single`, streamed: the request's n samples straight from the engine, token by token."""
        async with self._slot():
            started = time.perf_counter()
            logprobs = bool(request.logprobs) or request.logprobs == 0 and not chat
            top = (getattr(request, "top_logprobs", None) if chat else request.logprobs) or 0
            stream = await self.generator.submit(_messages(request), replace(config.sampling, n=request.n,
                                                                             logprobs=top))
            finish: dict[int, str] = {}
            stop_reasons: dict[int, str | None] = {}
            try:
                async for event in stream:
                    if event.token_ids:
                        piece = {"delta": {"content": event.text}} if chat else {"text": event.text}
                        extra = {"logprobs": _logprobs(event, chat, self._token)} if logprobs else {}
                        yield _sse(base | {"choices": [{"index": event.index, **piece, "finish_reason": None,
                                                        **extra}]})
                    if event.finished:
                        finish[event.index] = "length" if event.finish_reason == "length" else "stop"
                        stop_reasons[event.index] = event.stop_string
            finally:  # a client that went away: its samples are aborted at once
                await asyncio.shield(stream.abort())
        self.metrics.done(stream.usage.prompt, stream.usage.generated, time.perf_counter() - started)
        yield _sse(base | {"choices": [{"index": i, **({"delta": {}} if chat else {"text": ""}),
                                        "finish_reason": finish.get(i, "stop"), "stop_reason": stop_reasons.get(i)}
                                       for i in range(request.n)],
                           "usage": _usage(stream.usage.prompt, stream.usage.generated),
                           "ponder": {"strategy": "single", "budget": 1, "samples": request.n}})
        yield "data: [DONE]\n\n"

    def _token(self, token_id: int) -> str:
        return self.generator.tokenizer.decode([token_id])

    def _check_queue(self) -> None:
        if self._slots.locked() and self.waiting >= self.limits.max_queue:
            self.metrics.refused.inc()
            raise OverloadedError(f"the server is busy ({self.limits.max_running} requests running, "
                                  f"{self.waiting} waiting); retry shortly")

    @contextlib.asynccontextmanager
    async def _slot(self):
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self._slots.release()

    def _plan(self, request) -> tuple[Route, StrategyConfig, Any]:
        route = parse_model(request.model)
        options = request.ponder
        if options is not None:
            route = route.model_copy(update={k: v for k, v in (("strategy", options.strategy),
                                                                ("budget", options.budget)) if v is not None})
        if route.model != self.model:
            raise ModelNotServedError(f"model {route.model!r} is not served here; this server serves "
                                      f"{self.model!r} (as [STRATEGY[@BUDGET]/]{self.model})")
        if route.strategy not in STRATEGIES or route.strategy == "reference":
            raise InvalidArgumentError(f"unknown strategy {route.strategy!r}")
        chat = isinstance(request, ChatCompletionRequest)
        wants_logprobs = request.logprobs if chat else request.logprobs is not None
        if wants_logprobs and not (request.stream and route.strategy == "single"):
            raise InvalidArgumentError("logprobs are returned for streamed requests to a plain model (stream=true, "
                                       "no strategy); a strategy's answer is a choice among samples")
        max_tokens = getattr(request, "max_completion_tokens", None) or request.max_tokens or 256
        limits = self.limits
        for name, value, limit in (("n", request.n, limits.max_n), ("budget", route.budget, limits.max_budget),
                                   ("max_tokens", max_tokens, limits.max_tokens)):
            if value > limit:
                raise InvalidArgumentError(f"{name}={value} is over this server's limit of {limit}")
        stop = (request.stop,) if isinstance(request.stop, str) else tuple(request.stop or ())
        sampling = SamplingParams(temperature=request.temperature, top_p=request.top_p, max_tokens=max_tokens,
                                  stop=stop, seed=request.seed)
        config = StrategyConfig(budget=route.budget, sampling=sampling, options=options.options if options else {})
        verifier = self._verifier(options.verifier if options else None)
        return route, config, verifier

    def _verifier(self, name: str | None):
        if name is None:
            return None
        if name not in self.verifiers:
            from ponder.verifiers import load

            self.verifiers[name] = load(name, generator=self.generator)
        return self.verifiers[name]

    async def _run(self, request, route, config, verifier) -> list[Result]:
        done = await asyncio.gather(*(self._one(request, route, config, verifier, i) for i in range(request.n)))
        return [result for _, result in done]

    async def _one(self, request, route, config, verifier, i: int, generator: Generator | None = None
                   ) -> tuple[int, Result]:
        """One run of the strategy; with a seed, run i is seeded from it and i (n runs, n different answers)."""
        if config.sampling.seed is not None:
            config = replace(config, sampling=replace(config.sampling, seed=config.sampling.seed + 7919 * i))
        problem = RequestProblem(completion_id("req"), "", None, messages=_messages(request))
        return i, await STRATEGIES[route.strategy](problem, generator or self.generator, verifier, config)


def _logprobs(event, chat: bool, token) -> dict:
    """A chunk's logprobs in OpenAI's shape: chat {"content": [{token, logprob, bytes, top_logprobs}]};
    completions {"tokens", "token_logprobs", "top_logprobs"}."""
    tops = event.top_logprobs or [{} for _ in event.token_ids]
    if chat:
        return {"content": [{"token": token(t), "logprob": lp, "bytes": list(token(t).encode()),
                             "top_logprobs": [{"token": token(k), "logprob": v, "bytes": list(token(k).encode())}
                                              for k, v in top.items()]}
                            for t, lp, top in zip(event.token_ids, event.logprobs, tops)]}
    return {"tokens": [token(t) for t in event.token_ids], "token_logprobs": event.logprobs,
            "top_logprobs": [{token(k): v for k, v in top.items()} for top in tops]}


def _messages(request) -> Prompt:
    """The prompt as the client sent it: chat messages, or a completion's text."""
    if isinstance(request, ChatCompletionRequest):
        return [m.model_dump() for m in request.messages]
    return request.prompt


def _text(result: Result) -> tuple[str, str]:
    """The text a run answers with, and its finish reason: its chosen candidate, the one with its answer and the
    highest logprob (or its best, where nothing was answered)."""
    agreeing = [c for c in result.candidates if result.answer is not None and c.answer == result.answer]
    best = max(agreeing or result.candidates, key=lambda c: c.logprob)
    return best.text, "length" if best.finish_reason == "length" else "stop"


def _choice(index: int, result: Result, chat: bool) -> dict:
    text, finish = _text(result)
    body = {"message": {"role": "assistant", "content": text}} if chat else {"text": text}
    return {"index": index, **body, "finish_reason": finish, "logprobs": None}


def _spent(results: list[Result]) -> tuple[int, int]:
    """Prompt and generated tokens of every sample of every run."""
    return sum(r.tokens["prompt"] for r in results), sum(r.tokens["generated"] for r in results)


def _usage(prompt: int, generated: int) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": generated, "total_tokens": prompt + generated}


def _report(route: Route, config: StrategyConfig, results: list[Result]) -> dict:
    """ponder's account of the request: the strategy, and per run its answer, samples, votes and why it stopped."""
    return {"strategy": route.strategy, "budget": config.budget, "options": dict(config.options),
            "runs": [{"answer": None if r.answer is None else str(r.answer), "samples": r.samples, "votes": r.votes,
                      "stop_reason": r.stop_reason, "tokens": r.tokens, "wall_s": r.wall_s} for r in results]}


class Metrics:
    """Prometheus metrics of one server (its own registry): requests and their latency, tokens, the queue, and
    the engine's rows and aborted samples, read when scraped."""

    def __init__(self, serving: Serving):
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("ponder_requests", "HTTP requests by route and status", ["route", "status"],
                                registry=self.registry)
        self.latency = Histogram("ponder_request_latency_seconds", "Time from a slot to the last run decided",
                                 buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=self.registry)
        self.tokens = Counter("ponder_tokens", "Tokens spent, every sample counted", ["kind"], registry=self.registry)
        self.refused = Counter("ponder_requests_refused", "Requests refused with 429 (queue full)",
                               registry=self.registry)
        self.registry.register(_LoadCollector(serving))

    def done(self, prompt: int, generated: int, seconds: float) -> None:
        self.latency.observe(seconds)
        self.tokens.labels("prompt").inc(prompt)
        self.tokens.labels("generated").inc(generated)

    def exposition(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


class _LoadCollector:
    def __init__(self, serving: Serving):
        self.serving = serving

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        yield GaugeMetricFamily("ponder_queue_depth", "Requests waiting for a slot", value=self.serving.waiting)
        load = self.serving.generator.load() if hasattr(self.serving.generator, "load") else {}
        if load:
            yield GaugeMetricFamily("ponder_engine_active_rows", "Samples decoding in the engine's batch",
                                    value=load["active_rows"])
            yield GaugeMetricFamily("ponder_engine_waiting_rows", "Samples waiting to join the batch",
                                    value=load["waiting_rows"])
            yield CounterMetricFamily("ponder_samples_aborted", "Samples stopped before their end (decided "
                                      "strategies, clients gone)", value=load["samples_aborted"])


def _sse(data: dict) -> str:
    return f"data: {json.dumps(data)}\n\n"
