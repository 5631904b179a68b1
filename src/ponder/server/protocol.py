"""The OpenAI-compatible wire format: requests, responses and errors (pydantic), and the model-name syntax that
picks a strategy: `[STRATEGY[@BUDGET]/]MODEL`, e.g. `adaptive-vote@32/ponder-arith` (a plain `ponder-arith`
is the model itself: its samples as they are)."""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ponder.errors import InvalidArgumentError


class PonderOptions(BaseModel):
    """The `ponder` object of a request body (`extra_body={"ponder": {...}}` in the openai client): every
    strategy option, overriding what the model name says."""

    model_config = ConfigDict(extra="forbid")

    strategy: str | None = None
    budget: int | None = Field(None, ge=1)
    verifier: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    # what a strategy's run may spend besides its budget (strategies/limits.py): generated tokens, seconds, dollars
    # (priced by the server's --prices)
    max_total_tokens: int | None = Field(None, gt=16)
    deadline: float | None = Field(None, gt=0, allow_inf_nan=False)
    max_cost: float | None = Field(None, gt=0, allow_inf_nan=False)

    def limited(self) -> bool:
        return any(value is not None for value in (self.max_total_tokens, self.deadline, self.max_cost))


class ContentPart(BaseModel):
    """A part of a message's content (`[{"type": "text", "text": "..."}]`, as LangChain and the openai SDK send it):
    text parts are joined; any other kind (an image, audio, a file) is refused by `Message.text`."""

    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class StreamOptions(BaseModel):
    """OpenAI's `stream_options`: `include_usage` adds a last chunk with no choices and the request's usage. Padding
    (`include_obfuscation`) and vLLM's usage in every chunk (`continuous_usage_stats`) are refused (422)."""

    model_config = ConfigDict(extra="forbid")

    include_usage: bool = False
    include_obfuscation: Literal[False] = False  # OpenAI pads chunks against side channels; ponder pads none
    continuous_usage_stats: Literal[False] = False


class Message(BaseModel):
    """A chat message; a field beyond its role and content (`name`, `tool_calls`, ...) is kept to be refused by
    name (chat.messages), as no chat template here reads one."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None

    def text(self, param: str) -> str:
        """The content as one text: text parts joined by newlines, as vLLM joins them; any other part, a 400
        naming it (`param`: where this message is in the request)."""
        if isinstance(self.content, str) or self.content is None:
            return self.content or ""
        for j, part in enumerate(self.content):
            if part.type != "text" or part.text is None:
                raise InvalidArgumentError(f"{param}.content[{j}]: a {part.type!r} part; this model reads text parts "
                                           "only", param=f"{param}.content[{j}].type")
        return "\n".join(part.text for part in self.content)


# fields of OpenAI's and vLLM's requests that ponder does not do (yet): refused with a 400 naming the field unless
# they ask for nothing (the values here), never ignored
NEUTRAL: dict[str, tuple] = {
    "response_format": (None, {"type": "text"}), "tools": (None, []), "tool_choice": (None, "none", "auto"),
    "functions": (None, []), "function_call": (None, "none", "auto"), "parallel_tool_calls": (None, True, False),
    "best_of": (None, 1), "suffix": (None, ""), "modalities": (None, ["text"]), "audio": (None,),
    "prediction": (None,), "web_search_options": (None,),
}
# of those, the ones a server behind `--backend` (vLLM, SGLang, llama.cpp) is sent: they shape a sample's text
# alone, which ponder passes on (a tool call would come back in fields a sample's events do not carry)
FORWARDED = ("response_format",)


class SamplingRequest(BaseModel):
    """What chat and text completions share. A field no endpoint reads is kept (`model_extra`) and named in the
    reply's `ponder` report as unknown, as vLLM accepts and names them."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(examples=["ponder-arith", "vote@2/ponder-arith", "adaptive-vote@2/ponder-arith"])
    n: int = Field(1, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)  # None: the model's own (generation_config.json), else 1
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=-1)  # vLLM's: -1 and 0 keep every token
    min_p: float | None = Field(None, ge=0, lt=1)
    max_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    ignore_eos: bool = False  # vLLM's: every sample runs to max_tokens (for benchmarks)
    stream: bool = False
    user: str | None = None
    ponder: PonderOptions | None = None
    logit_bias: dict[str, Annotated[float, Field(ge=-100, le=100)]] | None = None  # token id (as a string): bias
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    repetition_penalty: float | None = Field(None, gt=0)  # vLLM's
    min_tokens: int | None = Field(None, ge=0)  # vLLM's
    stop_token_ids: list[Annotated[int, Field(ge=0)]] | None = None  # vLLM's
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    functions: list[dict[str, Any]] | None = None
    function_call: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    best_of: int | None = None
    suffix: str | None = None
    modalities: list[str] | None = None
    audio: dict[str, Any] | None = None
    prediction: dict[str, Any] | None = None
    web_search_options: dict[str, Any] | None = None
    stream_options: StreamOptions | None = None

    def refused(self, remote: bool = False) -> str | None:
        """The first field set that ponder does not do (NEUTRAL), or None. Behind a remote server (`remote`),
        FORWARDED fields are that server's to do."""
        return next((name for name, neutral in NEUTRAL.items()
                     if getattr(self, name) not in neutral and not (remote and name in FORWARDED)), None)

    def forwarded(self) -> dict[str, Any]:
        """The FORWARDED fields set, for the server behind this one."""
        return {name: getattr(self, name) for name in FORWARDED if getattr(self, name) not in NEUTRAL[name]}

    def unknown(self) -> list[str]:
        """The fields sent that no endpoint reads."""
        return sorted(self.model_extra or {})


class ChatCompletionRequest(SamplingRequest):
    messages: list[Message] = Field(min_length=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20)
    max_completion_tokens: int | None = Field(None, ge=1)  # reasoning and answer tokens together, as OpenAI's
    # a thinking model's thinking: an effort (a budget relative to its typical trace; "none": no thinking), vLLM's
    # budget in tokens, or Qwen3's switch; include_reasoning=False leaves the reasoning out of the reply (vLLM's)
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = None
    thinking_token_budget: int | None = Field(None, ge=0)
    chat_template_kwargs: dict[str, Any] | None = None
    include_reasoning: bool = True


class CompletionRequest(SamplingRequest):
    prompt: str
    logprobs: int | None = Field(None, ge=0, le=20)
    max_tokens: int | None = Field(16, ge=0)  # the completions API's own default; 0 with echo: score the prompt
    echo: bool = False  # the prompt goes before the text (with logprobs: its tokens' logprobs too)


def invalid_text(value: Any, path: str = "") -> str | None:
    """Where in a request body (`messages[0].content`) text is not valid Unicode, or None. JSON can carry a lone
    surrogate (`"\\ud800"`), which Python keeps in a str but no tokenizer or UTF-8 encoder takes."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path or "body"
    elif isinstance(value, dict):
        for key, item in value.items():
            where = invalid_text(key, path) or invalid_text(item, f"{path}.{key}" if path else str(key))
            if where:
                return where
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if where := invalid_text(item, f"{path}[{i}]"):
                return where
    return None


def completion_id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:24]}"


def now() -> int:
    return int(time.time())


class Route(BaseModel):
    """A model name read: the strategy and budget it asks for, and the model behind it."""

    strategy: str | None = None  # None: the plain model, its samples as they are
    budget: int = 1
    model: str


def parse_model(name: str) -> Route:
    """`[STRATEGY[@BUDGET]/]MODEL`: "vote@8/ponder-arith", "deepconf/ponder-arith", "ponder-arith". A first part
    that is no strategy belongs to the model's own name (a folder such as models/my-model)."""
    head, slash, model = name.partition("/")
    strategy, at, budget = head.partition("@")
    if not slash or strategy not in _strategies():
        if at:
            raise InvalidArgumentError(f"unknown strategy {strategy!r} in model {name!r}; choose from "
                                       f"{_strategies()}")
        return Route(model=name)
    if at and not (budget.isdigit() and int(budget) >= 1):
        raise InvalidArgumentError(f"budget {budget!r} in model {name!r} must be an integer >= 1")
    return Route(strategy=strategy, budget=int(budget) if at else 1, model=model)


def _strategies() -> list[str]:
    from ponder.strategies import STRATEGIES

    return sorted(name for name, entry in STRATEGIES.items() if entry.model)
