"""The one event source of a request: what happens while it is served, as typed events, produced the same way
whether the reply is streamed (each event a chunk) or not (the events folded into one body: reply.py).

    Started    the reply has begun (chat's role chunk)
    Tokens     tokens a plain model's sample added, as the engine made them
    Progress   while a strategy decides: samples started and finished, the tally of their answers
    Decided    a strategy run has decided: the text it answers with
    Finished   each choice's finish and stop reason, the tokens spent, ponder's report
    Failed     an error once the reply has begun (streamed: an error event; unstreamed: raised)

    async for event in events(serving, plan):
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, AsyncIterator

from ponder.errors import PonderError
from ponder.live import Watched
from ponder.reasoning import ReasoningParser
from ponder.seeds import derive_seed
from ponder.server.protocol import completion_id
from ponder.strategies import Candidate, Result
from ponder.tasks.question import Question

if TYPE_CHECKING:
    from ponder.server.serving import Plan, Serving

HEARTBEAT_S = 0.25  # while strategies decide, how often a reply shows it is alive (and learns its client is gone)


@dataclass(frozen=True)
class Started:
    n: int


@dataclass(frozen=True)
class Tokens:
    """Tokens that sample `index` of a plain model added: their text, ids, logprobs and top logprobs (one dict per
    token, empty where none were asked); split where the plan splits (a thinking model's chat), the part of the text
    that is reasoning and the part that is content (a marker split across tokens waits for its end: see
    ReasoningParser), else all content."""

    index: int
    text: str
    ids: list[int]
    logprobs: list[float]
    top: list[dict[int, float]]
    reasoning: str = ""
    content: str | None = None  # None: the text, all of it

    @classmethod
    def joined(cls, index: int, pieces: list[Tokens]) -> Tokens:
        """A whole sample's tokens, from its pieces in order."""
        return cls(index, "".join(p.text for p in pieces), [t for p in pieces for t in p.ids],
                   [lp for p in pieces for lp in p.logprobs], [top for p in pieces for top in p.top],
                   "".join(p.reasoning for p in pieces), "".join(p.answer for p in pieces))

    @property
    def answer(self) -> str:
        return self.text if self.content is None else self.content


@dataclass(frozen=True)
class Progress:
    report: dict | None  # samples_started, samples_finished, tally; None: nothing new since the last one


@dataclass(frozen=True)
class Decided:
    index: int
    text: str  # the content of the run's chosen candidate
    runs_decided: int
    reasoning: str = ""  # and its reasoning (a thinking model's chat)


@dataclass(frozen=True)
class Ending:
    finish_reason: str  # OpenAI's: "length" where cut at max_tokens, else "stop"
    stop_reason: str | None = None  # vLLM's: the stop string that ended the sample


@dataclass(frozen=True)
class Finished:
    endings: list[Ending]
    prompt_tokens: int  # the request's prompt, once (Serving.prompt_tokens)
    completion_tokens: int  # every token of every sample, the aborted ones' too
    report: dict  # ponder's account: the strategy, its budget and options, and per run what it did
    reasoning_tokens: int = 0  # of completion_tokens, those inside think blocks


@dataclass(frozen=True)
class Failed:
    error: PonderError


Event = Started | Tokens | Progress | Decided | Finished | Failed


async def events(serving: Serving, plan: Plan) -> AsyncIterator[Event]:
    """The events of `plan`'s request, Started first and Finished (or Failed) last. A reader that stops early (a
    client gone away) leaves nothing running: the plain model's samples are aborted, a strategy's runs cancelled
    (and their samples aborted)."""
    yield Started(plan.n)
    source = _samples(serving, plan) if plan.route.strategy is None else _runs(serving, plan)
    try:
        async with contextlib.aclosing(source):
            async for event in source:
                if isinstance(event, Finished) and plan.unknown:  # accepted, and named
                    event = replace(event, report={**event.report, "unknown_fields": list(plan.unknown)})
                yield event
    except PonderError as error:
        yield Failed(error)


async def _samples(serving: Serving, plan: Plan) -> AsyncIterator[Event]:
    """A plain model: the request's n samples of one prompt (its KV computed once), token by token."""
    report = {"strategy": "single", "budget": 1, "samples": plan.n if plan.generates else 0}
    if not plan.generates:  # max_tokens=0: every sample ends at once, at its length
        yield Finished([Ending("length")] * plan.n, 0, 0, report)
        return
    params = replace(plan.config.sampling, n=plan.n, logprobs=plan.logprobs or 0)
    parsers = {i: ReasoningParser(plan.markers, plan.opened) for i in range(plan.n)} if plan.markers else {}
    async with serving.slot():
        started = time.perf_counter()
        stream = await serving.runtime.generator.submit(plan.prompt, params)
        try:
            async for event in stream:
                split = parsers[event.index].feed(event.text, final=event.finished) if parsers else ("", None)
                if event.tokens or any(split):  # ids: [] from a remote backend, which sends text (no logprobs)
                    yield Tokens(event.index, event.text, event.token_ids or [], event.logprobs,
                                 event.top_logprobs or [{} for _ in range(event.tokens)], *split)
        finally:  # counted whether the samples finished or were cut off
            await asyncio.shield(stream.abort())
            serving.metrics.done(stream.usage.prompt, stream.usage.generated, time.perf_counter() - started)
    endings = [Ending(_finish(stream.finish_reasons.get(i, "stop")), stream.stop_strings.get(i))
               for i in range(plan.n)]
    counted = await serving.prompt_tokens(plan.prompt, plan)
    yield Finished(endings, stream.usage.prompt if counted is None else counted, stream.usage.generated, report,
                   stream.usage.reasoning)


async def _runs(serving: Serving, plan: Plan) -> AsyncIterator[Event]:
    """A strategy: its n runs at once; every HEARTBEAT_S while they decide, their progress (the samples a
    replica pool draws are on its replicas: no progress, heartbeats only); each run's text once it has decided."""
    async with serving.slot():
        started = time.perf_counter()
        watched = Watched(serving.runtime.generator, Question.asked(plan.prompt).extract, plan.model)
        runs = [asyncio.ensure_future(_run(serving, plan, i, watched)) for i in range(plan.n)]
        results: list[Result | None] = [None] * plan.n
        sent = None
        try:
            pending = set(runs)
            while pending:
                done, pending = await asyncio.wait(pending, timeout=HEARTBEAT_S, return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    progress = watched.progress()
                    yield Progress(progress if progress != sent else None)
                    sent = progress
                for task in done:
                    i, result = task.result()
                    results[i] = result
                    text = _chosen(result).text
                    reasoning, content = ReasoningParser(plan.markers, plan.opened).feed(text, final=True) \
                        if plan.markers else ("", text)  # split as a plain model's stream is
                    yield Decided(i, content, sum(r is not None for r in results), reasoning)
        finally:  # decided, failed or cut off: no run outlives its request
            for run in runs:
                run.cancel()
            await asyncio.gather(*runs, return_exceptions=True)
            serving.metrics.done(*_spent([r for r in results if r is not None]), time.perf_counter() - started)
    endings = [Ending(_finish(_chosen(r).finish_reason)) for r in results]
    report = {"strategy": plan.route.strategy, "budget": plan.config.budget, "options": dict(plan.config.options),
              "runs": [{"answer": None if r.answer is None else str(r.answer), "samples": r.samples, "votes": r.votes,
                        "stop_reason": r.stop_reason, "tokens": r.tokens, "wall_s": r.wall_s, "cost": r.cost}
                       for r in results]}
    prompt, generated = _spent(results)
    counted = await serving.prompt_tokens(Question.asked(plan.prompt).prompt(), plan)  # as the runs read it
    yield Finished(endings, prompt if counted is None else counted, generated, report,
                   sum(r.tokens.get("reasoning", 0) for r in results))


async def _run(serving: Serving, plan: Plan, i: int, watched: Watched) -> tuple[int, Result]:
    """Run i of the strategy; with a seed, seeded from it and i (n runs, n different answers). `watched` sees its
    samples where they are drawn here."""
    config = plan.config
    if config.sampling.seed is not None:
        config = replace(config, sampling=replace(config.sampling, seed=derive_seed(config.sampling.seed, "run", i)))
    problem = Question.asked(plan.prompt, completion_id("req"))
    return i, await serving.runtime.solve(problem, plan.route.strategy, config, verifier=plan.verifier,
                                          observe=lambda _: watched)


def _chosen(result: Result) -> Candidate:
    """The candidate a run answers with: of those with its answer, the likeliest (its best, where it has no
    answer)."""
    agreeing = [c for c in result.candidates if result.answer is not None and c.answer == result.answer]
    return max(agreeing or result.candidates, key=lambda c: c.logprob)


def _finish(reason: str) -> str:
    """OpenAI's finish reasons: a sample cut at max_tokens "length"; stopped or aborted, "stop"."""
    return "length" if reason == "length" else "stop"


def _spent(results: list[Result]) -> tuple[int, int]:
    """Prompt and generated tokens of every sample of every run."""
    return sum(r.tokens["prompt"] for r in results), sum(r.tokens["generated"] for r in results)
