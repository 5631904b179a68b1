"""A Generator that replays scripted samples, to check each strategy's decision logic exactly.

Each `submit` takes the next n scripted samples. The generator then runs in ticks, like an engine step: at
each tick every running sample emits its next token (one character of its text), a sample whose text is
out, or that has just written one of its stop strings, finishes with "stop", and an aborted one ends with an
"abort" event and no more tokens (with `keep_first`, the rest of a request abort in the tick its race is
decided). Between ticks the strategy gets to react (read events, abort, submit more) before anything else happens.

It thinks as ponder-arith-think does: its streams carry the reasoning markers <think> and </think>, a sample's
text between them is its reasoning, and each event says whether its one token is a reasoning token (the markers
are not). With `opened`, its chat template opens the think block (unless a submit turns thinking off), so a
sample starts inside it.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

from ponder.backends.base import Race, SampleEvent, SamplingParams, Stream, TokenUsage
from ponder.reasoning import ReasoningMarkers

PROMPT_TOKENS = 10


@dataclass
class Scripted:
    text: str
    confidence: float = 5.0  # each token's top-k logprobs are all -confidence (DeepConf's token confidence)
    logprob: float = -0.1  # each token's logprob


@dataclass
class _Sample:
    script: Scripted
    queue: asyncio.Queue
    request: int
    index: int
    stop: tuple[str, ...] = ()
    thinking: range = range(0)  # where its reasoning lies in its text
    sent: int = 0
    aborted: bool = False
    done: bool = False


class ScriptedGenerator:
    """Args:
        script: the samples to hand out, in order.
        probability: for `score`: each token's probability in a given continuation.
        opened: its chat template opens the think block (a sample starts inside it) unless thinking is off.
    """

    def __init__(self, script: list[Scripted | str], name: str = "scripted", probability=lambda text: 0.5,
                 opened: bool = False):
        self.name = name
        self.opened = opened
        self.markers = ReasoningMarkers()
        self.script = [s if isinstance(s, Scripted) else Scripted(s) for s in script]
        self.probability = probability
        self.usage = TokenUsage()
        self.samples: list[_Sample] = []  # every sample started, in order
        self.prefixes: list[str] = []  # the prefix of each submit, in order
        self.params: list[SamplingParams] = []  # the sampling of each submit, in order
        self.scored: list[tuple] = []  # (prefix, continuation or list of steps) of each score call
        self._races: dict[int, tuple[Race, list[_Sample]]] = {}  # request -> its keep_first race, its samples
        self._clock: asyncio.Task | None = None

    async def score(self, prompt, continuation: str | list[str], prefix: str = ""):
        self.scored.append((prefix, continuation))
        if isinstance(continuation, str):
            return [math.log(self.probability(continuation))] * len(continuation)
        return [[math.log(self.probability(step))] * len(step) for step in continuation]

    async def submit(self, prompt, params: SamplingParams, prefix: str = "") -> Stream:
        if len(self.script) < params.n:
            raise AssertionError("the strategy asked for more samples than were scripted")
        queue: asyncio.Queue = asyncio.Queue()
        request = len({s.request for s in self.samples})
        opened = self.opened and params.enable_thinking
        new = []
        for i in range(params.n):
            script = self.script.pop(0)
            new.append(_Sample(script, queue, request, i, params.stop, self._thinking(prefix, script.text, opened)))
        self.samples += new
        if params.keep_first:
            self._races[request] = (Race(params.keep_first, self.markers, opened), new)
        self.prefixes.append(prefix)
        self.params.append(params)

        async def events():
            while True:
                yield await queue.get()

        async def abort(index):
            for s in new:
                if index is None or s.index == index:
                    s.aborted = True
        if self._clock is None or self._clock.done():
            self._clock = asyncio.create_task(self._run())
        return Stream(events(), params.n, PROMPT_TOKENS, abort=abort, sink=self.usage, markers=self.markers,
                      opened=opened, prefix=prefix)

    def _thinking(self, prefix: str, text: str, opened: bool) -> range:
        """Which characters of `text` (after `prefix`) lie inside the think block, markers not: from the start
        (an opened block) or after a leading start marker, to the end marker or the end."""
        whole, start, end = prefix + text, self.markers.start, self.markers.end
        begin = 0
        if not opened:
            lead = len(whole) - len(whole.lstrip())
            if not whole.startswith(start, lead):
                return range(0)
            begin = lead + len(start)
        close = whole.find(end, begin)
        return range(begin - len(prefix), (len(whole) if close < 0 else close) - len(prefix))

    @property
    def aborted(self) -> list[_Sample]:
        return [s for s in self.samples if s.aborted and s.sent < len(s.script.text)]

    async def _run(self) -> None:
        while any(not s.done for s in self.samples):
            decided = []
            for s in [s for s in self.samples if not s.done]:
                if s.aborted:
                    s.done = True
                    s.queue.put_nowait(SampleEvent(s.request, s.index, [], "", [], finish_reason="abort"))
                    continue
                char = s.script.text[s.sent]
                s.sent += 1
                stop = next((x for x in s.stop if s.script.text[:s.sent].endswith(x)), None)
                s.done = stop is not None or s.sent == len(s.script.text)
                top = [{t: -s.script.confidence for t in range(5)}]
                event = SampleEvent(s.request, s.index, [ord(char)], "" if stop else char, [s.script.logprob], top,
                                    finish_reason="stop" if s.done else None, generated_tokens=s.sent,
                                    stop_string=stop, reasoning=int(s.sent - 1 in s.thinking))
                s.queue.put_nowait(event)
                race, group = self._races.get(s.request, (None, []))
                if race is not None and race.decides(event):  # keep_first: the rest abort after this tick
                    decided.append((race, group))
            for race, group in decided:
                for other in group:
                    other.aborted = other.aborted or other.index not in race.ended
            for _ in range(50):  # let the strategy react before the next tick
                await asyncio.sleep(0)
