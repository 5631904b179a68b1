"""The OpenAI-compatible wire format: requests, responses and errors (pydantic), and the model-name syntax that
picks a strategy: `[STRATEGY[@BUDGET]/]MODEL`, e.g. `adaptive-vote@32/ponder-arith` (a plain `ponder-arith`
is the model itself: its samples as they are)."""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

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


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class SamplingRequest(BaseModel):
    """What chat and text completions share."""

    model: str = Field(examples=["ponder-arith", "vote@2/ponder-arith", "adaptive-vote@2/ponder-arith"])
    n: int = Field(1, ge=1)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    ignore_eos: bool = False  # vLLM's: every sample runs to max_tokens (for benchmarks)
    stream: bool = False
    user: str | None = None
    ponder: PonderOptions | None = None


class ChatCompletionRequest(SamplingRequest):
    messages: list[Message] = Field(min_length=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20)
    max_completion_tokens: int | None = Field(None, ge=1)


class CompletionRequest(SamplingRequest):
    prompt: str
    logprobs: int | None = Field(None, ge=0, le=20)
    max_tokens: int | None = Field(16, ge=0)  # the completions API's own default; 0 with echo: score the prompt
    echo: bool = False  # the prompt goes before the text (with logprobs: its tokens' logprobs too)


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
