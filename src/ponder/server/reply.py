"""A request's events in OpenAI's shapes: `body` folds them into one response, `chunks` writes each as a
server-sent event. Every field both endpoints share (usage, finish_reason, stop_reason, logprobs, ponder's
report) is written here, once; what they differ in (a chat message or a text, the logprobs' shape) is
the endpoint's Reply subclass (chat.py, completions.py).

    reply = ChatReply(serving, plan)
    body = await reply.body(events(serving, plan))        # or: StreamingResponse(reply.chunks(events(...)))
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, AsyncIterator

from ponder.server.events import Decided, Ending, Event, Failed, Finished, Progress, Started, Tokens
from ponder.server.protocol import completion_id, now

if TYPE_CHECKING:
    from ponder.server.serving import Plan, Serving


class Reply(ABC):
    """One reply to a planned request; a subclass gives its endpoint's shapes."""

    kind = ""  # the id's prefix
    object = ""  # the body's object
    chunk_object = ""  # a chunk's object

    def __init__(self, serving: Serving, plan: Plan):
        self.plan = plan
        self.token, self.width = serving.token, serving.width
        self.id = completion_id(self.kind)
        self.created = now()

    def opening(self, n: int) -> list[dict]:
        """The choices of a first chunk sent before any text (chat's role); none by default."""
        return []

    @abstractmethod
    def text(self, text: str, reasoning: str = "") -> dict:
        """A whole choice's text (a thinking model's chat: its content, and its reasoning apart)."""

    @abstractmethod
    def delta(self, text: str | None, reasoning: str = "") -> dict:
        """A chunk's text (None: the closing chunk, which carries none), and reasoning as `text`."""

    @abstractmethod
    def logprobs(self, tokens: Tokens, whole: bool) -> dict:
        """Tokens' logprobs: a whole choice's (`whole`) or a chunk's."""

    async def body(self, events: AsyncIterator[Event]) -> dict:
        """The response once the request is finished: each choice's text (and logprobs, if asked)."""
        texts: dict[int, list[str]] = {i: [] for i in range(self.plan.n)}
        reasoning: dict[int, list[str]] = {i: [] for i in range(self.plan.n)}
        tokens: dict[int, list[Tokens]] = {i: [] for i in range(self.plan.n)}
        async for event in events:
            match event:
                case Tokens():
                    texts[event.index].append(event.answer)
                    reasoning[event.index].append(event.reasoning)
                    tokens[event.index].append(event)
                case Decided():
                    texts[event.index].append(event.text)
                    reasoning[event.index].append(event.reasoning)
                case Failed():
                    raise event.error
                case Finished():
                    finished = event
        asked = self.plan.logprobs is not None
        choices = [{"index": i, **self.text("".join(texts[i]), "".join(reasoning[i])), **_ending(ending),
                    "logprobs": self.logprobs(Tokens.joined(i, tokens[i]), whole=True) if asked else None}
                   for i, ending in enumerate(finished.endings)]
        return self._head(self.object) | {"choices": choices, "usage": _usage(finished), "ponder": finished.report}

    async def chunks(self, events: AsyncIterator[Event]) -> AsyncIterator[str]:
        """Server-sent events in OpenAI's chunk format, one per event, then [DONE]; an error once the stream has
        begun (its status already sent) is an error event, OpenAI's way."""
        async for event in events:
            if isinstance(event, Failed):
                yield _sse({"error": event.error.to_dict()})
                return
            chunk = self.chunk(event)
            if chunk is not None:
                yield chunk
        yield "data: [DONE]\n\n"

    def chunk(self, event: Event) -> str | None:
        head = self._head(self.chunk_object)
        match event:
            case Started():
                opening = self.opening(event.n)
                return _sse(head | {"choices": opening}) if opening else None
            case Tokens():
                choice = {"index": event.index, **self.delta(event.answer, event.reasoning), "finish_reason": None,
                          "logprobs": None if self.plan.logprobs is None else self.logprobs(event, whole=False)}
                return _sse(head | {"choices": [choice]})
            case Progress(report=None):  # an SSE comment, which clients ignore: written to learn the client is there
                return ": deciding\n\n"
            case Progress():
                return _sse(head | {"choices": [], "ponder": event.report})
            case Decided():
                choice = {"index": event.index, **self.delta(event.text, event.reasoning), "finish_reason": None,
                          "logprobs": None}
                return _sse(head | {"choices": [choice], "ponder": {"runs_decided": event.runs_decided}})
            case Finished():  # the finish reasons and ponder's report; then, if asked, the usage alone (OpenAI's)
                closing = _sse(head | {"choices": [{"index": i, **self.delta(None), **_ending(ending), "logprobs": None}
                                                   for i, ending in enumerate(event.endings)], "ponder": event.report})
                return closing + _sse(head | {"choices": [], "usage": _usage(event)}) if self.plan.usage_chunk \
                    else closing

    def _head(self, kind: str) -> dict:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.plan.model}


def usage(prompt: int, completion: int, reasoning: int = 0) -> dict:
    """OpenAI's usage; `reasoning`: of the completion tokens, those a thinking model spent inside think blocks."""
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "completion_tokens_details": {"reasoning_tokens": reasoning}}


def _ending(ending: Ending) -> dict:
    return {"finish_reason": ending.finish_reason, "stop_reason": ending.stop_reason}


def _usage(finished: Finished) -> dict:
    return usage(finished.prompt_tokens, finished.completion_tokens, finished.reasoning_tokens)


def _sse(data: dict) -> str:
    return f"data: {json.dumps(data)}\n\n"
