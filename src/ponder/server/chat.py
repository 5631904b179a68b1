"""POST /v1/chat/completions: a chat request to its reply, a `chat.completion` whose choices are messages, or
streamed, `chat.completion.chunk` events (the role first, then deltas). A thinking model's reasoning is apart from
its answer: `reasoning` (vLLM's name) and `reasoning_content` (SGLang's and DeepSeek's) beside `content`.

    body = await chat.create(serving, ChatCompletionRequest(model="vote@8/ponder-arith", messages=[...]))
"""

from __future__ import annotations

from typing import AsyncIterator

from ponder.errors import InvalidArgumentError
from ponder.models import TYPICAL_REASONING, TYPICAL_REASONING_TOKENS
from ponder.server.events import Tokens, events
from ponder.server.protocol import ChatCompletionRequest
from ponder.server.reply import Reply
from ponder.server.serving import Serving

# reasoning_effort as a thinking budget: this many times the model's typical trace (ponder.models.TYPICAL_REASONING);
# "none" does not think (enable_thinking=False), "max" thinks unbudgeted (recovery still leaves room to answer)
EFFORT = {"minimal": 0.5, "low": 1, "medium": 2, "high": 4, "xhigh": 8, "max": None}


class ChatReply(Reply):
    kind = "chatcmpl"
    object = "chat.completion"
    chunk_object = "chat.completion.chunk"

    def opening(self, n: int) -> list[dict]:
        return [{"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None} for i in range(n)]

    def text(self, text: str, reasoning: str = "") -> dict:
        return {"message": {"role": "assistant", "content": text, "refusal": None, **self._reasoning(reasoning)}}

    def delta(self, text: str | None, reasoning: str = "") -> dict:
        if text is None:
            return {"delta": {}}
        return {"delta": {**({"content": text} if text or not reasoning else {}),
                          **(self._reasoning(reasoning) if reasoning else {})}}

    def _reasoning(self, reasoning: str) -> dict:
        """A thinking model's reasoning under both names clients read (none where the reply leaves it out)."""
        if not self.plan.reasoning:
            return {}
        return {"reasoning": reasoning or None, "reasoning_content": reasoning or None}

    def logprobs(self, tokens: Tokens, whole: bool) -> dict:
        """{"content": [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}]}, a chunk's as a whole
        choice's."""
        return {"content": [self._entry(t, lp) | {"top_logprobs": [self._entry(k, v) for k, v in top.items()]}
                            for t, lp, top in zip(tokens.ids, tokens.logprobs, tokens.top)], "refusal": None}

    def _entry(self, token_id: int, logprob: float) -> dict:
        text = self.token(token_id)
        return {"token": text, "logprob": logprob, "bytes": list(text.encode())}


def messages(serving: Serving, request: ChatCompletionRequest) -> list[dict]:
    """The request's messages as the model's chat template reads them: content parts joined into one text, a
    developer message as a system one. Where the template has no system role (the shipped models'), the system
    text goes before the first user message's, a blank line between, rather than being dropped. Tool messages,
    and any field of a message beyond its role and content, are refused: no template here reads them."""
    tokenizer = None if serving.runtime.choice.remote else getattr(serving.runtime.generator, "tokenizer", None)
    template = getattr(tokenizer, "chat_template", None) or ""
    system_role = tokenizer is None or "system" in template
    out, system = [], []
    for i, message in enumerate(request.messages):
        param = f"messages[{i}]"
        if message.role == "tool":
            raise InvalidArgumentError(f"{param}: a tool message; this server's model calls no tools",
                                       param=f"{param}.role")
        if message.model_extra:
            key = sorted(message.model_extra)[0]
            raise InvalidArgumentError(f"{param}.{key}: the chat template reads a message's role and content only",
                                       param=f"{param}.{key}")
        text = message.text(param)
        role = "system" if message.role == "developer" else message.role
        if role == "system" and not system_role:
            system.append(text)
            continue
        if role == "user" and system:
            text, system = "\n\n".join([*system, text]), []
        out.append({"role": role, "content": text})
    if system:  # a system text with no user message after it
        out.append({"role": "user", "content": "\n\n".join(system)})
    return out


def thinking(serving: Serving, request: ChatCompletionRequest) -> dict:
    """The SamplingParams fields of the request's thinking controls: reasoning_effort (EFFORT), vLLM's
    thinking_token_budget, chat_template_kwargs' enable_thinking (Qwen3's switch; no other key is read, so any
    other is refused). On a model that does not think, asking for any of them is refused."""
    fields: dict = {}
    kwargs = dict(request.chat_template_kwargs or {})
    if "enable_thinking" in kwargs:
        enable = kwargs.pop("enable_thinking")
        if not isinstance(enable, bool):
            raise InvalidArgumentError(f"chat_template_kwargs.enable_thinking={enable!r} must be true or false",
                                       param="chat_template_kwargs.enable_thinking")
        fields["enable_thinking"] = enable
    if kwargs:
        key = sorted(kwargs)[0]
        raise InvalidArgumentError(f"chat_template_kwargs.{key}: this server's chat templates read enable_thinking "
                                   "only", param=f"chat_template_kwargs.{key}")
    effort = request.reasoning_effort
    if effort == "none":
        fields["enable_thinking"] = False
    elif effort is not None and EFFORT[effort] is not None:
        typical = TYPICAL_REASONING.get(serving.model, TYPICAL_REASONING_TOKENS)
        fields["thinking_budget"] = max(1, round(EFFORT[effort] * typical))
    if request.thinking_token_budget is not None:
        if effort is not None:
            raise InvalidArgumentError("reasoning_effort and thinking_token_budget each set the thinking budget; "
                                       "send one", param="thinking_token_budget")
        fields["thinking_budget"] = request.thinking_token_budget
    asked = [name for name, given in (("reasoning_effort", effort is not None),
                                      ("thinking_token_budget", request.thinking_token_budget is not None),
                                      ("chat_template_kwargs.enable_thinking", "enable_thinking" in fields)) if given]
    if asked and getattr(serving.runtime.generator, "markers", None) is None:  # "max" too: honoured or refused
        raise InvalidArgumentError(f"{asked[0]}: {serving.model} does not think (it has no reasoning markers)",
                                   param=asked[0])
    return fields


async def create(serving: Serving, request: ChatCompletionRequest) -> dict | AsyncIterator[str]:
    """The response body, or (`stream`) its server-sent events; a bad request fails here, before either."""
    plan = serving.plan(request, messages(serving, request),
                        logprobs=(request.top_logprobs or 0) if request.logprobs else None,
                        max_tokens=request.max_completion_tokens or request.max_tokens,
                        thinking=thinking(serving, request), reasoning=request.include_reasoning)
    serving.admit()
    reply = ChatReply(serving, plan)
    return reply.chunks(events(serving, plan)) if request.stream else await reply.body(events(serving, plan))
