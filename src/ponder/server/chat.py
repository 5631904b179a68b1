"""POST /v1/chat/completions: a chat request to its reply, a `chat.completion` whose choices are messages, or
streamed, `chat.completion.chunk` events (the role first, then deltas).

    body = await chat.create(serving, ChatCompletionRequest(model="vote@8/ponder-arith", messages=[...]))
"""

from __future__ import annotations

from typing import AsyncIterator

from ponder.server.events import Tokens, events
from ponder.server.protocol import ChatCompletionRequest
from ponder.server.reply import Reply
from ponder.server.serving import Serving


class ChatReply(Reply):
    kind = "chatcmpl"
    object = "chat.completion"
    chunk_object = "chat.completion.chunk"

    def opening(self, n: int) -> list[dict]:
        return [{"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None} for i in range(n)]

    def text(self, text: str) -> dict:
        return {"message": {"role": "assistant", "content": text}}

    def delta(self, text: str | None) -> dict:
        return {"delta": {} if text is None else {"content": text}}

    def logprobs(self, tokens: Tokens, whole: bool) -> dict:
        """{"content": [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}]}, a chunk's as a whole
        choice's."""
        return {"content": [self._entry(t, lp) | {"top_logprobs": [self._entry(k, v) for k, v in top.items()]}
                            for t, lp, top in zip(tokens.ids, tokens.logprobs, tokens.top)]}

    def _entry(self, token_id: int, logprob: float) -> dict:
        text = self.token(token_id)
        return {"token": text, "logprob": logprob, "bytes": list(text.encode())}


async def create(serving: Serving, request: ChatCompletionRequest) -> dict | AsyncIterator[str]:
    """The response body, or (`stream`) its server-sent events; a bad request fails here, before either."""
    plan = serving.plan(request, [m.model_dump() for m in request.messages],
                        logprobs=(request.top_logprobs or 0) if request.logprobs else None,
                        max_tokens=request.max_completion_tokens or request.max_tokens)
    serving.admit()
    reply = ChatReply(serving, plan)
    return reply.chunks(events(serving, plan)) if request.stream else await reply.body(events(serving, plan))
