"""Requests to strategies: a chat or text completion runs the strategy its model name (or `ponder` object)
asks for, `n` times at once, and answers with each run's chosen candidate.

    serving = Serving(Runtime(Choice(model="ponder-arith"), plain=True), Limits())
    body = await serving.complete(ChatCompletionRequest(model="vote@8/ponder-arith", messages=[...]))
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import dataclass, replace
from typing import Any, AsyncIterator

from ponder.backends.base import Prompt, SamplingParams
from ponder.errors import InvalidArgumentError, ModelNotFoundError, OverloadedError, PonderError
from ponder.live import Watched
from ponder.runtime import Runtime
from ponder.seeds import derive_seed
from ponder.server.protocol import (ChatCompletionRequest, CompletionRequest, Route, completion_id, now,
                                    parse_model)
from ponder.strategies import Result, StrategyConfig
from ponder.tasks.question import Question


HEARTBEAT_S = 0.25  # while a stream waits for its strategies, how often it checks that its client is still there


@dataclass(frozen=True)
class Limits:
    """What one request may ask for; beyond it, a 400 that names the limit."""

    max_n: int = 16
    max_budget: int = 64
    max_tokens: int = 1024
    max_running: int = 64  # requests served at once (their samples share the engine's batch)
    max_queue: int = 256  # requests waiting for a slot; one more is refused with 429


class Serving:
    def __init__(self, runtime: Runtime, limits: Limits = Limits()):
        self.runtime = runtime  # a Runtime, or a distributed.ReplicaPool
        self.generator = runtime.generator  # plain sampling
        self.model = runtime.choice.model
        self.limits = limits
        self.metrics = Metrics(self)
        self.waiting = 0  # requests queued for a slot
        self._slots = asyncio.Semaphore(limits.max_running)

    async def complete(self, request: ChatCompletionRequest | CompletionRequest) -> dict:
        """The whole response body, once every run has decided."""
        chat = isinstance(request, ChatCompletionRequest)
        route, config, verifier = self._plan(request)
        self._check_queue()
        body = {"id": completion_id("chatcmpl" if chat else "cmpl"),
                "object": "chat.completion" if chat else "text_completion", "created": now(), "model": request.model}
        echo = await self._echo(request, _wants_logprobs(request)) if not chat and request.echo else None
        if echo is not None and request.max_tokens == 0:  # the prompt scored, nothing generated
            return body | {"choices": [_echoed(echo, {"index": i, "text": "", "finish_reason": "length",
                                                      "logprobs": _no_logprobs(request)}) for i in range(request.n)],
                           "usage": _usage(echo["prompt_tokens"], 0), "ponder": _plain_report(0)}
        if route.strategy is None:  # a plain model: its n samples as they are (one prompt, computed once)
            body |= await self._complete_samples(request, config, chat)
        else:
            async with self._slot():
                started = time.perf_counter()
                results = await self._run(request, route, config, verifier)
            self.metrics.done(*_spent(results), time.perf_counter() - started)
            body |= {"choices": [_choice(i, result, chat) for i, result in enumerate(results)],
                     "usage": _usage(*_spent(results)), "ponder": _report(route, config, results)}
        if echo is not None:
            body["choices"] = [_echoed(echo, choice) for choice in body["choices"]]
            body["usage"] = _usage(body["usage"]["prompt_tokens"] + echo["prompt_tokens"],
                                   body["usage"]["completion_tokens"])
        return body

    async def _echo(self, request: CompletionRequest, scored: bool) -> dict:
        """The prompt as `echo` returns it: its text and, if `scored`, its tokens' logprobs (the first has none:
        nothing comes before it), read in one scoring pass whose tokens count in the usage."""
        if not scored:
            return {"text": request.prompt, "prompt_tokens": 0, "logprobs": None}
        tokenizer = self.generator.tokenizer
        if tokenizer is None:
            raise InvalidArgumentError("echo needs the served model's tokenizer; this backend has none")
        ids = tokenizer.encode(request.prompt, add_special_tokens=False)
        async with self._slot():
            scored = await self.generator.score(tokenizer.decode(ids[:1]), tokenizer.decode(ids[1:])) \
                if ids[1:] else []
        if len(scored) != len(ids) - 1:
            raise InvalidArgumentError("echo: the prompt does not split into the same tokens when scored")
        self.metrics.tokens.labels("prompt").inc(len(ids))
        return {"text": request.prompt, "prompt_tokens": len(ids),
                "logprobs": {"tokens": [self._token(t) for t in ids], "token_logprobs": [None, *scored],
                             "top_logprobs": [None] * len(ids)}}

    async def _complete_samples(self, request, config: StrategyConfig, chat: bool) -> dict:
        """`single`, unstreamed: the request's n samples (with their tokens' logprobs, if asked)."""
        texts: dict[int, list[str]] = {i: [] for i in range(request.n)}
        logprobs: dict[int, list[dict]] = {i: [] for i in range(request.n)}
        wanted = _wants_logprobs(request)
        async with self._sampling(request, config) as stream:
            async for event in stream:
                texts[event.index].append(event.text)
                if wanted and event.tokens:
                    logprobs[event.index].append(_logprobs(event, chat, self._token))
        choices = []
        for i in range(request.n):
            text = "".join(texts[i])
            body = {"message": {"role": "assistant", "content": text}} if chat else {"text": text}
            merged = {key: [x for piece in logprobs[i] for x in piece[key]] for key in
                      (("content",) if chat else ("tokens", "token_logprobs", "top_logprobs"))}
            if not chat:
                merged["text_offset"] = _offsets(merged["tokens"])
            choices.append({"index": i, **body, "finish_reason": _finish(stream.finish_reasons[i]),
                            "stop_reason": stream.stop_strings[i], "logprobs": merged if wanted else None})
        return {"choices": choices, "usage": _usage(stream.usage.prompt, stream.usage.generated),
                "ponder": _plain_report(request.n)}

    async def stream(self, request: ChatCompletionRequest | CompletionRequest) -> AsyncIterator[str]:
        """Server-sent events in OpenAI's chunk format: the role at once; while the strategies run, progress chunks
        (no choices; `ponder`: samples started and finished, the tally of their answers); each choice's text as
        soon as its run has decided; then the finish reasons, usage and ponder's report; then [DONE]. Through a
        replica pool the runs are on the replicas: no progress chunks, heartbeats only."""
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
                yield _sse({"error": error.to_dict()})

        async def chunks() -> AsyncIterator[str]:
            if chat:
                yield _sse(base | {"choices": [{"index": i, "delta": {"role": "assistant", "content": ""},
                                                "finish_reason": None} for i in range(request.n)]})
            if route.strategy is None:  # nothing to decide: every token goes out as it is made
                async for chunk in self._stream_samples(request, config, base, chat):
                    yield chunk
                return
            async with self._slot():
                started = time.perf_counter()
                watched = Watched(self.generator, Question.asked("").extract, request.model)  # for progress chunks
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
        logprobs = _wants_logprobs(request)
        async with self._sampling(request, config) as stream:
            async for event in stream:
                if event.tokens:
                    piece = {"delta": {"content": event.text}} if chat else {"text": event.text}
                    extra = {"logprobs": _logprobs(event, chat, self._token)} if logprobs else {}
                    yield _sse(base | {"choices": [{"index": event.index, **piece, "finish_reason": None, **extra}]})
        yield _sse(base | {"choices": [{"index": i, **({"delta": {}} if chat else {"text": ""}),
                                        "finish_reason": _finish(stream.finish_reasons.get(i, "stop")),
                                        "stop_reason": stream.stop_strings.get(i)} for i in range(request.n)],
                           "usage": _usage(stream.usage.prompt, stream.usage.generated),
                           "ponder": _plain_report(request.n)})
        yield "data: [DONE]\n\n"

    @contextlib.asynccontextmanager
    async def _sampling(self, request, config: StrategyConfig):
        """A slot and the request's n samples of a plain model (with the logprobs it asked for); leaving early
        (a client that went away) aborts the samples still running."""
        chat = isinstance(request, ChatCompletionRequest)
        top = (getattr(request, "top_logprobs", None) if chat else request.logprobs) or 0
        async with self._slot():
            started = time.perf_counter()
            stream = await self.generator.submit(_messages(request), replace(config.sampling, n=request.n,
                                                                             logprobs=top))
            try:
                yield stream
            finally:  # counted whether the samples finished or were cut off (a client gone)
                await asyncio.shield(stream.abort())
                self.metrics.done(stream.usage.prompt, stream.usage.generated, time.perf_counter() - started)

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
            raise ModelNotFoundError(f"model {route.model!r} is not served here; this server serves "
                                      f"{self.model!r} (as [STRATEGY[@BUDGET]/]{self.model})")
        verifier = options.verifier if options else None
        if route.strategy is not None:
            declared, verifier = self.runtime.check(route.strategy, verifier)
            if not declared.model:
                raise InvalidArgumentError(f"{route.strategy} answers with a dataset's own solution; a request has "
                                           "none")
        elif verifier is not None or options is not None and options.options:
            raise InvalidArgumentError("a verifier and options are a strategy's; name a strategy too")
        if _wants_logprobs(request) and route.strategy is not None:
            raise InvalidArgumentError("logprobs are returned by a plain model (no strategy); a strategy's answer "
                                       "is a choice among samples")
        if getattr(request, "echo", False) and (request.stream or route.strategy is not None):
            raise InvalidArgumentError("echo is answered by a plain model (no strategy), unstreamed")
        if request.max_tokens == 0 and not getattr(request, "echo", False):
            raise InvalidArgumentError("max_tokens=0 asks for nothing; with echo=true it scores the prompt")
        max_tokens = getattr(request, "max_completion_tokens", None) or request.max_tokens or 256
        limits = self.limits
        for name, value, limit in (("n", request.n, limits.max_n), ("budget", route.budget, limits.max_budget),
                                   ("max_tokens", max_tokens, limits.max_tokens)):
            if value > limit:
                raise InvalidArgumentError(f"{name}={value} is over this server's limit of {limit}")
        stop = (request.stop,) if isinstance(request.stop, str) else tuple(request.stop or ())
        sampling = SamplingParams(temperature=request.temperature, top_p=request.top_p, max_tokens=max_tokens,
                                  stop=stop, seed=request.seed, ignore_eos=request.ignore_eos)
        config = StrategyConfig(budget=route.budget, sampling=sampling, options=options.options if options else {})
        return route, config, verifier

    async def _run(self, request, route, config, verifier) -> list[Result]:
        done = await asyncio.gather(*(self._one(request, route, config, verifier, i) for i in range(request.n)))
        return [result for _, result in done]

    async def _one(self, request, route, config, verifier: str | None, i: int, watched: Watched | None = None
                   ) -> tuple[int, Result]:
        """One run of the strategy; with a seed, run i is seeded from it and i (n runs, n different answers).
        `watched` sees its samples, where they are drawn here (a replica pool runs it whole on a replica)."""
        if config.sampling.seed is not None:
            config = replace(config, sampling=replace(config.sampling, seed=derive_seed(config.sampling.seed, "run",
                                                                                        i)))
        problem = Question.asked(_messages(request), completion_id("req"))
        return i, await self.runtime.solve(problem, route.strategy, config, verifier=verifier,
                                           observe=None if watched is None else lambda _: watched)


def _wants_logprobs(request) -> bool:
    """Chat asks with logprobs=true; a text completion with logprobs=N (0 too: the sampled token's alone)."""
    return bool(request.logprobs) if isinstance(request, ChatCompletionRequest) else request.logprobs is not None


def _finish(reason: str) -> str:
    """OpenAI's finish reasons: an aborted or stopped sample "stop", one cut at max_tokens "length"."""
    return "length" if reason == "length" else "stop"


def _no_logprobs(request) -> dict | None:
    """The logprobs of a choice that generated nothing: empty where they were asked for."""
    return {"tokens": [], "token_logprobs": [], "top_logprobs": []} if _wants_logprobs(request) else None


def _echoed(echo: dict, choice: dict) -> dict:
    """A text completion's choice with the prompt before it (and its logprobs before the choice's, with each
    token's text_offset), as `echo=true` asks."""
    choice = {**choice, "text": echo["text"] + choice["text"]}
    if choice.get("logprobs") is not None and echo["logprobs"] is not None:
        merged = {key: echo["logprobs"][key] + choice["logprobs"][key] for key in echo["logprobs"]}
        choice["logprobs"] = merged | {"text_offset": _offsets(merged["tokens"])}
    return choice


def _offsets(tokens: list[str]) -> list[int]:
    """Where each token starts in the text (the completions API's text_offset)."""
    return list(itertools.accumulate((len(t) for t in tokens), initial=0))[:-1]


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
    return best.text, _finish(best.finish_reason)


def _choice(index: int, result: Result, chat: bool) -> dict:
    text, finish = _text(result)
    body = {"message": {"role": "assistant", "content": text}} if chat else {"text": text}
    return {"index": index, **body, "finish_reason": finish, "logprobs": None}


def _spent(results: list[Result]) -> tuple[int, int]:
    """Prompt and generated tokens of every sample of every run."""
    return sum(r.tokens["prompt"] for r in results), sum(r.tokens["generated"] for r in results)


def _usage(prompt: int, generated: int) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": generated, "total_tokens": prompt + generated}


def _plain_report(samples: int) -> dict:
    """ponder's account of a plain model's request: no strategy, its samples."""
    return {"strategy": "single", "budget": 1, "samples": samples}


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
        for kind in ("prompt", "generated"):  # exported from the start, as 0, so a scrape before and after counts
            self.tokens.labels(kind)
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
        load = self.serving.runtime.load()
        if load:
            yield GaugeMetricFamily("ponder_engine_active_rows", "Samples decoding in the engine's batch",
                                    value=load["active_rows"])
            yield GaugeMetricFamily("ponder_engine_waiting_rows", "Samples waiting to join the batch",
                                    value=load["waiting_rows"])
            yield CounterMetricFamily("ponder_samples_aborted", "Samples stopped before their end (decided "
                                      "strategies, clients gone)", value=load["samples_aborted"])
            yield CounterMetricFamily("ponder_engine_tokens_generated", "Tokens the engine sampled, those of "
                                      "samples later aborted too", value=load["tokens_generated"])


def _sse(data: dict) -> str:
    return f"data: {json.dumps(data)}\n\n"
