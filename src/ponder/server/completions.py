"""POST /v1/completions: a text completion to its reply, a `text_completion` whose choices are texts, or streamed,
its chunks. With `echo` the prompt goes before each choice's text and, with logprobs, its tokens' logprobs before
the choice's, read in one scoring pass; `max_tokens=0` with it scores the prompt and generates nothing (how a
client scores a given text over HTTP, as with vLLM).

    body = await completions.create(serving, CompletionRequest(model="ponder-arith", prompt="...", echo=True,
                                                               logprobs=0, max_tokens=0))
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import AsyncIterator

from ponder.errors import InvalidArgumentError
from ponder.server.events import Tokens, events
from ponder.server.protocol import CompletionRequest
from ponder.server.reply import Reply, usage
from ponder.server.serving import Serving


class CompletionReply(Reply):
    kind = "cmpl"
    object = "text_completion"
    chunk_object = "text_completion"

    def text(self, text: str, reasoning: str = "") -> dict:  # a text completion is not split: reasoning is ""
        return {"text": text}

    def delta(self, text: str | None, reasoning: str = "") -> dict:
        return {"text": text or ""}

    def logprobs(self, tokens: Tokens, whole: bool) -> dict:
        """{"tokens", "token_logprobs", "top_logprobs"}, and a whole choice's "text_offset" (where each token
        starts in its text)."""
        names = [self.token(t) for t in tokens.ids]
        logprobs = {"tokens": names, "token_logprobs": tokens.logprobs,
                    "top_logprobs": [{self.token(k): v for k, v in top.items()} for top in tokens.top]}
        return logprobs | {"text_offset": _offsets(map(self.width, tokens.ids))} if whole else logprobs


@dataclass(frozen=True)
class Echo:
    """The prompt as `echo` returns it: its text and, where logprobs were asked, its tokens' logprobs (the first
    has none: nothing comes before it) and how many tokens the scoring pass computed."""

    text: str
    tokens: int = 0
    logprobs: dict | None = None


async def create(serving: Serving, request: CompletionRequest) -> dict | AsyncIterator[str]:
    """The response body, or (`stream`) its server-sent events; a bad request fails here, before either."""
    plan = serving.plan(request, request.prompt, logprobs=request.logprobs, max_tokens=request.max_tokens)
    if request.echo and (request.stream or plan.route.strategy is not None):
        raise InvalidArgumentError("echo is answered by a plain model (no strategy), unstreamed")
    if not plan.generates and not request.echo:
        raise InvalidArgumentError("max_tokens=0 asks for nothing; with echo=true it scores the prompt")
    serving.admit()
    reply = CompletionReply(serving, plan)
    if request.stream:
        return reply.chunks(events(serving, plan))
    echo = await _echo(serving, request.prompt, scored=plan.logprobs is not None) if request.echo else None
    body = await reply.body(events(serving, plan))
    return body if echo is None else _echoed(body, echo)


async def _echo(serving: Serving, prompt: str, scored: bool) -> Echo:
    """The prompt, scored where logprobs were asked (the plan has checked the model has a tokenizer): its first
    token decoded as the context, the rest as the continuation, so the tokens are the prompt's own."""
    if not scored:
        return Echo(prompt)
    generator = serving.runtime.generator
    ids = generator.tokenizer.encode(prompt, add_special_tokens=False)
    async with serving.slot():
        scores = await generator.score(generator.tokenizer.decode(ids[:1]), generator.tokenizer.decode(ids[1:])) \
            if ids[1:] else []
    if len(scores) != len(ids) - 1:
        raise InvalidArgumentError("echo: the prompt does not split into the same tokens when scored")
    serving.metrics.scored(len(ids))
    return Echo(prompt, len(ids), {"tokens": [serving.token(t) for t in ids], "token_logprobs": [None, *scores],
                                   "top_logprobs": [None] * len(ids)})


def _echoed(body: dict, echo: Echo) -> dict:
    """`body` with the prompt before each choice's text (and its logprobs before the choice's, the text offsets
    counted from the prompt's start)."""
    choices = []
    for choice in body["choices"]:
        choice = choice | {"text": echo.text + choice["text"]}
        if echo.logprobs is not None:
            merged = {key: echo.logprobs[key] + choice["logprobs"][key] for key in echo.logprobs}
            # the prompt's tokens are all in its text (special ones too: the prompt is sent as text)
            prompt = _offsets(map(len, echo.logprobs["tokens"]))
            choice["logprobs"] = merged | {"text_offset": prompt + [len(echo.text) + offset for offset in
                                                                    choice["logprobs"]["text_offset"]]}
        choices.append(choice)
    spent = body["usage"]
    # the prompt counts once, scored for its logprobs or not (OpenAI's billing)
    return body | {"choices": choices, "usage": usage(max(spent["prompt_tokens"], echo.tokens),
                                                      spent["completion_tokens"],
                                                      spent["completion_tokens_details"]["reasoning_tokens"])}


def _offsets(widths) -> list[int]:
    """Where each token starts in the text (the completions API's text_offset), from the characters each is."""
    return list(itertools.accumulate(widths, initial=0))[:-1]
