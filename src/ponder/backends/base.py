"""The Generator protocol: everything a strategy may ask of a model.

    stream = await generator.submit(prompt, SamplingParams(n=8))   # n samples of one prompt, prompt computed once
    async for event in stream:                                     # each sample's tokens as they are made
        if decided:
            await stream.abort()                                   # frees the compute at once
    logprobs = await generator.score(prompt, "23+15=38\\n")        # per-token logprobs, nothing generated
    steps = await generator.score(prompt, ["3+4=7\\n", "7*2=14\\n"])  # one pass, one list per step

`prefix` (on submit and score) continues the answer after text the assistant has already written, so
step-wise strategies can extend a partial solution; a backend with a prefix cache computes the shared part once.

Every stream counts what it cost (its prompt once, its generated tokens as they arrive) into its own `usage`
and the generator's, so a strategy knows what it spent even when many strategies share one generator.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import AsyncIterator, Awaitable, Callable, Protocol

from ponder.errors import InvalidArgumentError
from ponder.reasoning import ReasoningMarkers
from ponder.sampling import FinishReason, SampleEvent, SamplingParams

__all__ = ["FinishReason", "Generation", "Generator", "Prompt", "Race", "Sample", "SampleEvent", "SamplingParams",
           "Stream", "TokenUsage", "generate", "prompt_text", "reasoning_split"]

Prompt = str | list[dict]


def prompt_text(tokenizer, prompt: Prompt, prefix: str = "", enable_thinking: bool = True) -> str:
    """A text prompt as it is, or chat messages rendered with the model's chat template (which opens the think
    block of a thinking model, or with `enable_thinking=False` closes it empty); then `prefix`."""
    if not isinstance(prompt, str):
        prompt = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False,
                                               enable_thinking=enable_thinking)
    elif not enable_thinking:
        raise InvalidArgumentError("enable_thinking=False needs chat messages: the chat template closes the think "
                                   "block (a text prompt is sent as it is)")
    return prompt + prefix


def reasoning_split(generator, prompt: Prompt, enable_thinking: bool = True) -> tuple[ReasoningMarkers | None, bool]:
    """How a completion of `prompt` by `generator` splits into reasoning and content: the generator's reasoning
    markers (None: a model that does not think, or a generator that cannot say) and whether the rendered prompt
    opened the think block (see ReasoningMarkers.split; a chat prompt without the model's template: not opened)."""
    markers = getattr(generator, "markers", None)
    if markers is None:
        return None, False
    tokenizer = getattr(generator, "tokenizer", None)
    rendered = prompt_text(tokenizer, prompt, "", enable_thinking) if tokenizer is not None else \
        prompt if isinstance(prompt, str) else ""
    return markers, markers.opens(rendered)


@dataclass
class TokenUsage:
    prompt: int = 0
    generated: int = 0
    reasoning: int = 0  # of the generated tokens, those inside think blocks

    def add(self, prompt: int = 0, generated: int = 0, reasoning: int = 0) -> None:
        self.prompt += prompt
        self.generated += generated
        self.reasoning += reasoning

    @property
    def answer(self) -> int:
        """Generated tokens outside think blocks (the markers included)."""
        return self.generated - self.reasoning


@dataclass
class Sample:
    """One finished sample: its text, why it stopped, its length, and its tokens' logprobs under the model
    (summed, and one by one)."""

    index: int
    text: str
    finish_reason: FinishReason
    tokens: int
    logprob: float
    token_logprobs: list[float] = field(default_factory=list)
    stop_string: str | None = None  # the stop string that ended it (None: end of sequence, length or abort)
    reasoning_tokens: int = 0  # of `tokens`, those inside its think block
    reasoning: str = ""  # a thinking model's reasoning, and
    content: str | None = None  # what it answered (answers are read here); a model that does not think: `text`

    def __post_init__(self):
        if self.content is None:
            self.content = self.text


@dataclass
class Generation:
    """The samples of one request and the tokens that request cost."""

    samples: list[Sample]
    usage: TokenUsage


class Stream:
    """The events of one request's n samples, in order, until each has finished (or been aborted).

    A backend builds one from its own event source and the callable that aborts on it; for a thinking model,
    with its reasoning markers, whether the prompt opened the think block, and the `prefix` its samples continue,
    so that each sample splits into reasoning and content (`split`).
    """

    def __init__(self, events: AsyncIterator[SampleEvent], n: int, prompt_tokens: int, *,
                 abort: Callable[[int | None], Awaitable[None]], sink: TokenUsage | None = None,
                 markers: ReasoningMarkers | None = None, opened: bool = False, prefix: str = ""):
        self.n = n
        self.markers, self.opened, self.prefix = markers, opened, prefix
        self.usage = TokenUsage(prompt=prompt_tokens)
        self.finish_reasons: dict[int, FinishReason] = {}
        self.stop_strings: dict[int, str | None] = {}
        self._events = events
        self._abort = abort
        self._sink = sink
        self._watchers: list[Callable[[SampleEvent], None]] = []
        if sink is not None:
            sink.add(prompt=prompt_tokens)

    @property
    def done(self) -> bool:
        return len(self.finish_reasons) == self.n

    def __aiter__(self) -> Stream:
        return self

    async def __anext__(self) -> SampleEvent:
        if self.done:
            raise StopAsyncIteration
        event = await self._events.__anext__()
        self.usage.add(generated=event.tokens, reasoning=event.reasoning)
        if self._sink is not None:
            self._sink.add(generated=event.tokens, reasoning=event.reasoning)
        if event.finished:
            self.finish_reasons[event.index] = event.finish_reason
            self.stop_strings[event.index] = event.stop_string
        for watcher in self._watchers:
            watcher(event)
        return event

    def watch(self, watcher: Callable[[SampleEvent], None]) -> None:
        """Call `watcher` with each event as it is read (a run's spend limits keep their account so)."""
        self._watchers.append(watcher)

    async def abort(self, index: int | None = None) -> None:
        """Stop one sample, or every sample not finished yet; each still sends its last (aborted) event."""
        if index is None:
            if not self.done:
                await self._abort(None)
        elif index not in self.finish_reasons:
            await self._abort(index)

    @property
    def thinking(self) -> bool:
        """Whether its samples begin inside a think block: the prompt opened one and the prefix did not close it,
        or the prefix opened one."""
        return self.markers is not None and self.markers.opens((self.markers.start if self.opened else "") +
                                                               self.prefix)

    def split(self, text: str) -> tuple[str, str]:
        """(reasoning, content) of a sample's text (after the stream's prefix): all content for a model that
        does not think."""
        if self.markers is None:
            return "", self.prefix + text
        return self.markers.split(self.prefix + text, self.opened)

    def sample(self, index: int, text: str, logprobs: list[float], reasoning_tokens: int) -> Sample:
        """A finished sample of this stream."""
        reasoning, content = self.split(text)
        return Sample(index, text, self.finish_reasons[index], len(logprobs), round(sum(logprobs), 4), logprobs,
                      self.stop_strings[index], reasoning_tokens, reasoning, content)

    async def collect(self) -> list[Sample]:
        """Wait for every sample; returns them in index order. A caller cancelled while it waits (a client that
        went away) aborts the samples still running, so their compute is freed at once."""
        texts: dict[int, list[str]] = {i: [] for i in range(self.n)}
        logprobs: dict[int, list[float]] = {i: [] for i in range(self.n)}
        reasoning = [0] * self.n
        try:
            async for event in self:
                texts[event.index].append(event.text)
                logprobs[event.index] += event.logprobs
                reasoning[event.index] += event.reasoning
        except asyncio.CancelledError:
            await asyncio.shield(self.abort())
            raise
        return [self.sample(i, "".join(texts[i]), logprobs[i], reasoning[i]) for i in range(self.n)]


class Race:
    """SamplingParams.keep_first where the engine cannot decide it (a remote server): which samples have ended,
    read from their events as they arrive (the end marker in a sample's text, or, where the prompt did not open a
    think block, its stop)."""

    def __init__(self, keep: int, markers: ReasoningMarkers | None, opened: bool):
        self.keep, self.markers, self.opened = keep, markers, opened
        self.ended: set[int] = set()
        self._tail: dict[int, str] = {}  # each sample's last characters, where an end marker may have begun

    def decides(self, event: SampleEvent) -> bool:
        """Whether `event` ends the keep-th sample: then every sample not in `ended` is to be aborted."""
        if len(self.ended) >= self.keep or event.index in self.ended or event.finish_reason == "abort":
            return False
        closed = False
        if self.markers is not None:
            closed, self._tail[event.index] = self.markers.closes(self._tail.get(event.index, ""), event.text)
        if closed or event.finish_reason == "stop" and not self.opened:
            self.ended.add(event.index)
        return len(self.ended) == self.keep


class Generator(Protocol):
    """A model that samples. Implementations: LocalGenerator (ponder's engine), OpenAIGenerator (a server),
    distributed.ReplicaGenerator (replicas), live.Watched (a view of another)."""

    name: str
    usage: TokenUsage  # everything spent since construction

    async def submit(self, prompt: Prompt, params: SamplingParams, prefix: str = "") -> Stream: ...

    async def score(self, prompt: Prompt, continuation: str | list[str], prefix: str = ""
                    ) -> list[float] | list[list[float]]:
        """The logprob of each token of `continuation`, after the prompt and `prefix`. A list of segments
        (steps, one after another) is read in the same single pass, each segment tokenized on its own, and
        gives one list of logprobs per segment."""
        ...

    def load(self) -> dict:
        """What it holds now, for /metrics: {"active_rows", "waiting_rows", "samples_aborted", "tokens_generated"};
        {} where it cannot tell (a remote server)."""
        ...

    def close(self) -> None:
        """Free what it holds (an engine's worker thread); it samples no more."""
        ...


async def generate(generator: Generator, prompt: Prompt, params: SamplingParams, prefix: str = "") -> Generation:
    """Submit and wait for every sample."""
    stream = await generator.submit(prompt, params, prefix)
    samples = await stream.collect()
    return Generation(samples, stream.usage)
