"""What the server holds across requests (the runtime, its limits, the slots requests wait for) and what one
request asks of it, checked once before anything runs: its Plan.

    serving = Serving(Runtime(Choice(model="ponder-arith"), plain=True), Limits())
    app = create_app(serving, api_key="secret")   # app.py: routes; chat.py, completions.py: replies; events.py: runs
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from ponder.backends.base import Prompt, SamplingParams, prompt_text, reasoning_split
from ponder.errors import InvalidArgumentError, ModelNotFoundError, OverloadedError
from ponder.models import sampling_defaults
from ponder.reasoning import ReasoningMarkers
from ponder.runtime import Runtime, known_verifier
from ponder.server.metrics import Metrics
from ponder.server.protocol import FORWARDED, NEUTRAL, Route, SamplingRequest, parse_model
from ponder.strategies import StrategyConfig
from ponder.strategies.limits import Limits as RunLimits
from ponder.strategies.limits import Prices
from ponder.verifiers import VERIFIERS

DEFAULT_MAX_TOKENS = 256  # a chat request that names no max_tokens


@dataclass(frozen=True)
class Limits:
    """What one request may ask for; beyond it, a 400 that names the limit."""

    max_n: int = 16
    max_budget: int = 64
    max_tokens: int = 1024
    max_running: int = 64  # requests served at once (their samples share the engine's batch)
    max_queue: int = 256  # requests waiting for a slot; one more is refused with 429
    max_request_bytes: int = 8 * 2**20  # a request body longer than this: 413, before it is read

    def __post_init__(self):
        for name, value in vars(self).items():
            if value < (0 if name == "max_queue" else 1):
                raise InvalidArgumentError(f"--{name.replace('_', '-')}={value} must be >= "
                                           f"{0 if name == 'max_queue' else 1}")


@dataclass(frozen=True)
class Plan:
    """One request, checked: what runs and what its reply holds.

    Args:
        model: the model name as the request gave it (every reply repeats it).
        route: the strategy (None: the plain model, its samples as they are) and its budget.
        config: the strategy's budget, sampling and options (a plain model: its sampling).
        verifier: the verifier the strategy runs with, as runtime.check chose it.
        prompt: chat messages, or a completion's text.
        n: the choices: independent runs of the strategy, or the plain model's samples of one prompt.
        logprobs: top logprobs per token asked (0: the chosen token's alone); None: no logprobs.
        generates: False where max_tokens=0 (a completion's echo scores the prompt and generates nothing).
        markers, opened: how each sample splits into reasoning and content (chat with a thinking model; None: no
            split, the text is all content) and whether the prompt opened the think block.
        reasoning: whether the reply carries the reasoning (as `reasoning` and `reasoning_content`).
        usage_chunk: a stream ends with a chunk of the usage alone (`stream_options.include_usage`).
        unknown: the request's fields that no endpoint reads, named in the reply's report.
    """

    model: str
    route: Route
    config: StrategyConfig
    verifier: str | None
    prompt: Prompt
    n: int
    logprobs: int | None = None
    generates: bool = True
    markers: ReasoningMarkers | None = None
    opened: bool = False
    reasoning: bool = False
    usage_chunk: bool = False
    unknown: tuple[str, ...] = ()


class Serving:
    """The runtime a server answers with (a Runtime, or a distributed.ReplicaPool: the same face), its limits, its
    metrics and the slots its requests share."""

    def __init__(self, runtime: Runtime, limits: Limits = Limits(), prices: Prices | None = None):
        self.runtime = runtime
        self.prices = prices  # what each model's tokens cost: every strategy's run reports its cost
        self.model = runtime.choice.model
        # a field a request leaves out: the model's generation_config.json (vLLM's --generation-config auto), else
        # OpenAI's default; a server behind this one (--backend) is asked for OpenAI's and applies its own
        self.defaults = {"temperature": 1.0, "top_p": 1.0,
                         **(sampling_defaults(self.model) if not runtime.choice.remote else {})}
        self.limits = limits
        self.metrics = Metrics(self)
        self.waiting = 0  # requests queued for a slot
        self._slots = asyncio.Semaphore(limits.max_running)

    def plan(self, request: SamplingRequest, prompt: Prompt, *, logprobs: int | None, max_tokens: int | None,
             thinking: dict | None = None, reasoning: bool | None = None) -> Plan:
        """`request` checked against the served model, the strategy registry and the limits; `prompt`, `logprobs`
        and `max_tokens` as its endpoint reads them, `thinking` its SamplingParams fields of thinking control;
        `reasoning`: split a thinking model's samples into reasoning and content, and reply with the reasoning
        (True) or without it (False); None: no split (text completions). A bad request fails here, before a stream
        starts."""
        refused = request.refused(remote=self.runtime.choice.remote)
        if refused is not None:
            neutral = [repr(value) for value in NEUTRAL[refused] if value is not None]
            behind = " (a server behind --backend is sent it)" if refused in FORWARDED else ""
            raise InvalidArgumentError(f"{refused}: this server does not do it{behind}; leave it out" +
                                       (f" or send {' or '.join(neutral)}" if neutral else ""), param=refused)
        if request.stream_options is not None and not request.stream:
            raise InvalidArgumentError("stream_options are a stream's: send them with stream=true",
                                       param="stream_options")
        route = parse_model(request.model)
        options = request.ponder
        if options is not None:
            route = route.model_copy(update={k: v for k, v in (("strategy", options.strategy),
                                                                ("budget", options.budget)) if v is not None})
        if route.model != self.model:
            raise ModelNotFoundError(f"model {route.model!r} is not served here; this server serves "
                                      f"{self.model!r} (as [STRATEGY[@BUDGET]/]{self.model})")
        verifier = options.verifier if options else None
        if verifier is not None and verifier.partition(":")[2]:  # a request loads no model of its choosing
            raise InvalidArgumentError(f"verifier {verifier!r}: a request names a verifier ({', '.join(VERIFIERS)}), "
                                       "not a model folder; start the server with the reward model it should use")
        if route.strategy is not None:
            declared, verifier = self.runtime.check(route.strategy, verifier)
            if not declared.model:
                raise InvalidArgumentError(f"{route.strategy} answers with a dataset's own solution; a request has "
                                           "none")
            if logprobs is not None:
                raise InvalidArgumentError("logprobs are returned by a plain model (no strategy); a strategy's "
                                           "answer is a choice among samples")
        elif verifier is not None or options is not None and (options.options or options.budget is not None or
                                                              options.limited()):
            if verifier is not None:
                known_verifier(verifier)  # a name that is wrong anyway is the first thing to fix
            raise InvalidArgumentError("a verifier, a budget, options and limits (max_total_tokens, deadline, "
                                       "max_cost) are a strategy's; name a strategy too")
        if logprobs is not None and (self.runtime.choice.remote or self.runtime.generator.tokenizer is None):
            raise InvalidArgumentError("logprobs name their tokens by id, which only a local model gives; ask the "
                                       "server behind this one (--backend) for them")
        tokens = DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens
        for name, value, limit in (("n", request.n, self.limits.max_n),
                                   ("budget", route.budget, self.limits.max_budget),
                                   ("max_tokens", tokens, self.limits.max_tokens)):
            if value > limit:
                raise InvalidArgumentError(f"{name}={value} is over this server's limit of {limit}")
        stop = (request.stop,) if isinstance(request.stop, str) else tuple(request.stop or ())
        given = {key: value for key in ("temperature", "top_p", "top_k", "min_p")
                 if (value := getattr(request, key)) is not None}
        if given.get("top_k") == -1:  # vLLM's "every token"
            given["top_k"] = 0
        given |= {key: value for key in ("presence_penalty", "frequency_penalty", "repetition_penalty", "min_tokens",
                                         "stop_token_ids") if (value := getattr(request, key)) is not None}
        if request.logit_bias:
            if not all(key.isascii() and key.isdigit() for key in request.logit_bias):
                raise InvalidArgumentError("logit_bias: its keys are token ids, as strings of digits ({\"42\": -100})",
                                           param="logit_bias")
            given["logit_bias"] = {int(key): value for key, value in request.logit_bias.items()}
        if given.get("min_tokens", 0) > tokens:
            raise InvalidArgumentError(f"min_tokens={given['min_tokens']} is over max_tokens={tokens}",
                                       param="min_tokens")
        if self.runtime.choice.remote:  # the fields ponder does not know, for the server behind it
            given["extra"] = {**(request.model_extra or {}), **request.forwarded()}
        sampling = SamplingParams(**{**self.defaults, **given, **(thinking or {})},
                                  max_tokens=max(tokens, 1),  # with max_tokens=0 nothing samples (`generates`)
                                  stop=stop, seed=request.seed, ignore_eos=request.ignore_eos)
        if getattr(self.runtime.generator, "vocab", None):  # a bad token id: a 400 now, not an error mid-stream
            sampling.check_vocabulary(self.runtime.generator.vocab)
        if options is not None and options.max_cost is not None and self.prices is None:
            raise InvalidArgumentError("ponder.max_cost: this server has no price table (ponder serve --prices FILE)",
                                       param="ponder.max_cost")
        if options is not None and options.max_cost is not None and \
                getattr(self.runtime.generator, "tokenizer", None) is None:
            raise InvalidArgumentError("ponder.max_cost: the prompt's tokens cannot be counted here (the model behind "
                                       "--backend has no tokenizer here), so a cost cap cannot be kept",
                                       param="ponder.max_cost")
        spend = RunLimits(options.max_total_tokens, options.deadline, options.max_cost, self.prices) if options \
            else RunLimits(prices=self.prices)
        config = StrategyConfig(budget=route.budget, sampling=sampling, options=options.options if options else {},
                                limits=spend)
        if route.strategy is not None:
            config.parse(declared.options, route.strategy)  # a bad option: a 400 now, not an error mid-stream
            named = sorted(set(config.options) & set(declared.paths))
            if named:  # a request reads no file of its choosing on this machine
                raise InvalidArgumentError(f"ponder.options.{named[0]}: a request names no file of the server's; "
                                           "the model's own is used", param=f"ponder.options.{named[0]}")
        markers, opened = (None, False) if reasoning is None else \
            reasoning_split(self.runtime.generator, prompt, sampling.enable_thinking)
        return Plan(request.model, route, config, verifier, prompt, request.n, logprobs, generates=tokens > 0,
                    markers=markers, opened=opened, reasoning=bool(reasoning) and markers is not None,
                    usage_chunk=bool(request.stream_options and request.stream_options.include_usage),
                    unknown=tuple(request.unknown()))

    def admit(self) -> None:
        """A 429 where every slot is busy and the queue is full (before a stream starts, so it is a status)."""
        if self._slots.locked() and self.waiting >= self.limits.max_queue:
            self.metrics.refused.inc()
            raise OverloadedError(f"the server is busy ({self.limits.max_running} requests running, "
                                  f"{self.waiting} waiting); retry shortly")

    @contextlib.asynccontextmanager
    async def slot(self):
        """One of the `max_running` slots, waited for in the queue."""
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self._slots.release()

    async def prompt_tokens(self, prompt: Prompt, plan: Plan) -> int | None:
        """`prompt` (as the model reads `plan`'s) in tokens, as OpenAI bills a request's: once, whatever `n` or the
        strategy (which may compute it many times: its runs, waves and steps are in the report). None where ponder
        has no tokenizer for the model (a server behind --backend): then the tokens that server reported."""
        tokenizer = getattr(self.runtime.generator, "tokenizer", None)
        if tokenizer is None:
            return None
        text = prompt_text(tokenizer, prompt, "", plan.config.sampling.enable_thinking)
        return len(await asyncio.to_thread(tokenizer.encode, text, add_special_tokens=False))

    def token(self, token_id: int) -> str:
        """A token's text, as logprobs name it."""
        return self.runtime.generator.tokenizer.decode([token_id])

    def width(self, token_id: int) -> int:
        """How many characters of a sample's text a token is: its own, or none for a special token (the end of
        sequence, a chat template's role token), which a sample's text leaves out."""
        return len(self.runtime.generator.tokenizer.decode([token_id], skip_special_tokens=True))
