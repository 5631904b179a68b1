"""Limits on what one run may spend besides its sample budget: generated tokens, seconds, dollars.

    limits = Limits(max_total_tokens=2_000, deadline=5.0, max_cost=0.001, prices=Prices.load("prices.json"))
    result = await STRATEGIES["vote"](problem, generator, None, StrategyConfig(budget=32, limits=limits))
    result.stop_reason   # "tokens", "deadline" or "cost" where that limit stopped the run
    result.cost          # dollars spent (None where a model it used has no price)

Tokens and dollars are never exceeded: each submission reserves what its samples could spend at most (max_tokens
each, and its prompt), and gets fewer samples, or shorter ones, where not all fit; a submission that fits no
sample ends the run. The deadline is a timer: when it fires every running sample is aborted and nothing new
starts. Either way the run returns its best answer so far, an anytime answer: its strategy's answer from the
samples it has; where that is none, the vote of the samples that finished; where none finished, the answer the
model writes at once after the longest partial trace (its think block closed, then "Answer:"), in at most
ANSWER_TOKENS tokens, reserved for it from the start. Never nothing. Since wrapping up takes time (the aborts, that
answer), the timer fires that much before the deadline: the time the last runs took from their timer to their
Result (WRAP_UP, a moving average kept by the process), so answers arrive near the deadline, not past it.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from ponder.errors import InvalidArgumentError, PonderError

ANSWER_TOKENS = 16  # what an answer written at once after a partial trace may generate
STOPS = ("tokens", "cost", "deadline")  # the stop reasons of a run a limit stopped


class WrapUp:
    """How long runs take from their deadline's timer to their Result: an exponential moving average over the
    process's runs (a server's load changes it), which the timer fires that much ahead of."""

    def __init__(self, weight: float = 0.2):
        self.seconds: float | None = None
        self.weight = weight

    def observe(self, seconds: float) -> None:
        self.seconds = seconds if self.seconds is None else (1 - self.weight) * self.seconds + self.weight * seconds


WRAP_UP = WrapUp()


def read_json(path: str | Path, what: str):
    """A JSON file a user names (a price table, a policy); one clear error where it cannot be read or parsed."""
    try:
        return json.loads(Path(path).read_text())
    except OSError as error:
        raise InvalidArgumentError(f"cannot read {what} {str(path)!r}: {error.strerror}") from None
    except ValueError as error:
        raise InvalidArgumentError(f"{what} {str(path)!r} is not JSON: {error}") from None


class LimitReached(PonderError):
    """A run's limit leaves no room for another sample: the run ends with its anytime answer."""

    def __init__(self, limit: str):
        super().__init__(f"the run's {limit} limit is reached")
        self.limit = limit


@dataclass(frozen=True)
class Price:
    prompt: float  # dollars per million prompt tokens (a scored continuation counts as prompt)
    generated: float  # dollars per million generated tokens

    def of(self, prompt: int, generated: int) -> float:
        return (prompt * self.prompt + generated * self.generated) / 1e6


@dataclass(frozen=True)
class Prices:
    """Dollars per million tokens for each model by name: `{"MODEL": {"prompt": 0.1, "generated": 0.4}}` in a
    JSON file; "*" prices any model not named."""

    table: Mapping[str, Price] = field(default_factory=dict)

    @classmethod
    def parse(cls, data, source: str = "prices") -> Prices:
        if not isinstance(data, dict) or not data:
            raise InvalidArgumentError(f"{source}: a price table is a JSON object of models, each "
                                       '{"prompt": DOLLARS, "generated": DOLLARS} per million tokens')
        table = {}
        for model, price in data.items():
            if not isinstance(price, dict) or set(price) != {"prompt", "generated"}:
                raise InvalidArgumentError(f"{source}: {model!r} needs exactly \"prompt\" and \"generated\" (dollars "
                                           f"per million tokens), not {price!r}")
            for kind, value in price.items():
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                    raise InvalidArgumentError(f"{source}: {model!r} {kind} price {value!r} must be a number >= 0")
            table[model] = Price(float(price["prompt"]), float(price["generated"]))
        return cls(table)

    @classmethod
    def load(cls, path: str | Path) -> Prices:
        return cls.parse(read_json(path, "the price table"), str(path))

    def price(self, model: str) -> Price | None:
        return self.table.get(model, self.table.get("*"))

    def cost(self, by_model: Mapping[str, Mapping[str, int]]) -> float | None:
        """Dollars for the tokens of each model ({"prompt", "generated"}); None if a model has no price."""
        prices = {model: self.price(model) for model in by_model}
        if any(p is None for p in prices.values()):
            return None
        return round(sum(prices[m].of(t["prompt"], t["generated"]) for m, t in by_model.items()), 9)


@dataclass(frozen=True)
class Limits:
    """Args:
        max_total_tokens: the most tokens a run may generate, every sample counted (aborted ones too).
        deadline: seconds from the run's start; at the deadline its running samples are aborted.
        max_cost: the most dollars a run may spend, priced by `prices`.
        prices: what each model's tokens cost (needed for max_cost; without it a Result's cost is None).
    """

    max_total_tokens: int | None = None
    deadline: float | None = None
    max_cost: float | None = None
    prices: Prices | None = None

    def __post_init__(self):
        if self.max_total_tokens is not None and self.max_total_tokens <= ANSWER_TOKENS:
            raise InvalidArgumentError(f"max_total_tokens={self.max_total_tokens} must be > {ANSWER_TOKENS} (the "
                                       "tokens kept for an answer written at once)")
        if self.deadline is not None and not 0 < self.deadline < math.inf:
            raise InvalidArgumentError(f"deadline={self.deadline} must be a number of seconds > 0")
        if self.max_cost is not None:
            if not 0 < self.max_cost < math.inf:
                raise InvalidArgumentError(f"max_cost={self.max_cost} must be a number of dollars > 0")
            if self.prices is None:
                raise InvalidArgumentError("max_cost needs the models' prices: a price table (--prices FILE)")

    @property
    def any(self) -> bool:
        return self.max_total_tokens is not None or self.deadline is not None or self.max_cost is not None


class Spend:
    """What one run has spent and holds reserved, against its Limits; the streams it runs, to abort at the
    deadline; and each sample's text so far, for an anytime answer."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.started = time.perf_counter()
        self.stopped: str | None = None  # the limit that stopped the run
        self.cut: str | None = None  # the limit that gave a submission fewer or shorter samples than it asked
        self.generated = 0
        self.dollars = 0.0
        self.reserved_tokens = 0
        self.reserved_dollars = 0.0
        self.answer_dollars: float | None = None  # kept for the anytime answer (set at the first submission)
        self.streams: list = []
        self.sessions: list = []  # the run's Sessions (auto runs two), the first of which builds its anytime Result
        self.texts: dict[tuple[int, int], list[str]] = {}  # each sample's text, logprobs and reasoning tokens
        self.logprobs: dict[tuple[int, int], list[float]] = {}
        self.reasoning: dict[tuple[int, int], int] = {}
        self._left: dict[tuple[int, int], int] = {}  # each running sample's reserved tokens not generated yet
        self._price: dict[tuple[int, int], float] = {}  # a generated token's dollars, by sample
        self._timer: asyncio.TimerHandle | None = None
        self.expired: float | None = None  # when the deadline's timer fired
        self.fires = math.inf  # when it is due (perf_counter): the deadline less the time runs take to wrap up

    def start(self) -> None:
        if self.limits.deadline is not None:
            # ahead by the recent wrap-up time, but never by more than half the deadline (a slow wrap-up under load
            # must not leave every later run answering from its prompt alone)
            self.fires = self.started + self.limits.deadline - min(WRAP_UP.seconds or 0.0, self.limits.deadline / 2)
            self._timer = asyncio.get_running_loop().call_later(max(self.fires - time.perf_counter(), 0), self.expire)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self.expired is not None:  # how long this run took to wrap up after its timer
            WRAP_UP.observe(time.perf_counter() - self.expired)

    def expire(self) -> None:
        """The deadline: nothing new starts, every running sample is aborted (each still sends its last event)."""
        self.stopped = self.stopped or "deadline"
        self.expired = time.perf_counter()
        for stream in self.streams:
            asyncio.ensure_future(stream.abort())

    def price(self, model: str):
        prices = self.limits.prices
        return None if prices is None else prices.price(model)

    def _still_open(self) -> None:
        """LimitReached where the run has stopped, or its deadline is due though the loop has not run the timer."""
        if self.stopped is None and time.perf_counter() >= self.fires:
            self.expire()
        if self.stopped is not None:
            raise LimitReached(self.stopped)

    def admit(self, model: str, n: int, max_tokens: int, prompt_tokens: int | None, shared: bool = True,
              answered_by: str | None = None) -> tuple[int, int]:
        """How many samples of at most how many tokens a submission of `n` (of `max_tokens` each, after a prompt
        of `prompt_tokens`, computed once for all of them where `shared`, else once per sample as a remote server
        bills it) may start; LimitReached where none fits. `answered_by`: the model an anytime answer would be
        written by (the run's own; `model` may be a draft), whose price the reserve for it is kept at."""
        self._still_open()
        fits = {}  # limit -> (the most tokens one sample may have, how many samples of t tokens fit)
        if self.limits.max_total_tokens is not None:
            tokens = self.limits.max_total_tokens - ANSWER_TOKENS - self.generated - self.reserved_tokens
            fits["tokens"] = (tokens, lambda t: tokens // t)
        if self.limits.max_cost is not None:
            price = self.price(model)
            if price is None:
                raise InvalidArgumentError(f"max_cost: the price table has no price for {model!r} (nor \"*\")")
            if prompt_tokens is None:
                raise InvalidArgumentError(f"max_cost: the prompt tokens of {model!r} cannot be counted here (no "
                                           "tokenizer), so a cost cap cannot be kept")
            # the anytime answer's reserve: the prompt and prefix, a whole trace after them, the answer, at the price
            # of the model that writes it; kept at the most any submission so far could need
            answerer = self.price(answered_by or model)
            if answerer is None:
                raise InvalidArgumentError(f"max_cost: the price table has no price for {answered_by!r} (nor \"*\")")
            self.answer_dollars = max(self.answer_dollars or 0.0,
                                      answerer.of(prompt_tokens + max_tokens + ANSWER_TOKENS, ANSWER_TOKENS))
            prompt, token = price.of(prompt_tokens, 0), price.generated / 1e6
            dollars = self.limits.max_cost - self.answer_dollars - self.dollars - self.reserved_dollars - \
                (prompt if shared else 0)
            each = 0.0 if shared else prompt  # what a sample costs before its first token
            longest = math.floor((dollars - each) / token) if token else (math.inf if dollars >= each else 0)
            fits["cost"] = (longest, lambda t: math.floor(dollars / (each + t * token)) if each + t * token else n)
        for limit, (longest, _) in fits.items():
            if longest < 1:
                self.stopped = limit
                raise LimitReached(limit)
        asked = n, max_tokens
        max_tokens = int(min([max_tokens] + [longest for longest, _ in fits.values()]))
        n = int(min([n] + [many(max_tokens) for _, many in fits.values()]))
        if (n, max_tokens) != asked:
            self.cut = next(limit for limit, (longest, many) in fits.items()
                            if longest <= max_tokens or many(max_tokens) <= n)
        return n, max_tokens

    def started_stream(self, model: str, stream, max_tokens: int, prompt_tokens: int | None, shared: bool = True
                       ) -> None:
        """A submission admitted: its prompt billed (as counted at admission), its samples' tokens reserved."""
        self.streams.append(stream)
        price = self.price(model)
        per_token = price.generated / 1e6 if price is not None else 0.0
        if price is not None and prompt_tokens is not None:
            self.dollars += price.of(prompt_tokens * (1 if shared else stream.n), 0)
        for index in range(stream.n):
            key = (id(stream), index)
            self._left[key], self._price[key] = max_tokens, per_token
            self.texts[key], self.logprobs[key], self.reasoning[key] = [], [], 0
        self.reserved_tokens += max_tokens * stream.n
        self.reserved_dollars += max_tokens * stream.n * per_token
        stream.watch(lambda event, stream=stream: self.observe(stream, event))
        if self.stopped == "deadline":  # the timer fired while it was being submitted
            asyncio.ensure_future(stream.abort())

    def observe(self, stream, event) -> None:
        key = (id(stream), event.index)
        self.texts[key].append(event.text)
        self.logprobs[key] += event.logprobs
        self.reasoning[key] += event.reasoning
        used = min(event.tokens, self._left[key])
        self.generated += event.tokens
        self.dollars += event.tokens * self._price[key]
        self._left[key] -= used
        self.reserved_tokens -= used
        self.reserved_dollars -= used * self._price[key]
        if event.finished:  # what it did not use is free again
            self.reserved_tokens -= self._left[key]
            self.reserved_dollars -= self._left[key] * self._price[key]
            self._left[key] = 0

    def check_score(self, model: str, tokens: int | None) -> None:
        """Before a continuation of `tokens` is scored (computed as a prompt's): LimitReached where the run has
        stopped, or where the pass does not fit under the cost cap."""
        self._still_open()
        price = self.price(model)
        if self.limits.max_cost is not None and price is not None:
            if tokens is None:
                raise InvalidArgumentError(f"max_cost: the tokens {model!r} scores cannot be counted here (no "
                                           "tokenizer), so a cost cap cannot be kept")
            if self.dollars + self.reserved_dollars + (self.answer_dollars or 0) + price.of(tokens, 0) > \
                    self.limits.max_cost:
                self.stopped = "cost"
                raise LimitReached("cost")

    def scored(self, model: str, tokens: int) -> None:
        """A continuation scored (its tokens computed as a prompt's)."""
        price = self.price(model)
        if price is not None:
            self.dollars += price.of(tokens, 0)

    def longest(self) -> tuple[int, int] | None:
        """The sample with the most text so far (the trace an anytime answer continues)."""
        return max(self.texts, key=lambda k: len("".join(self.texts[k])), default=None)


RUN: contextvars.ContextVar[Spend | None] = contextvars.ContextVar("ponder_spend", default=None)
