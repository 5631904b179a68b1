"""What every strategy shares: its configuration, a Session that submits and keeps the accounts, the
candidates it drew, the vote, and the Result it returns.

A strategy is `async def run(problem, generator, verifier, config) -> Result`. `budget` means the same
everywhere: the most full samples' worth of generation the strategy may spend on one problem; a strategy that
stops early spends less and its Result says so (`tokens`, `samples`, `stop_reason`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, AsyncIterator, Callable, Mapping

from ponder.backends.base import Generator, Sample, SampleEvent, SamplingParams, Stream, prompt_text
from ponder.errors import InvalidArgumentError
from ponder.seeds import derive_seed
from ponder.strategies.limits import RUN, LimitReached, Limits
from ponder.verifiers.answer import classes
from ponder.verifiers.base import Problem, StepVerifier, Verifier


@dataclass(frozen=True)
class StrategyConfig:
    """Args:
        budget: the most full samples to spend on one problem.
        sampling: how each sample is drawn (its n is set by the strategy).
        options: the strategy's own settings by name (each strategy's `Options` lists them; unknown names
            are an error).
        draft: a second, smaller model, for strategies that use one (spec-reason).
        limits: what a run may spend besides its budget: generated tokens, seconds, dollars (limits.py).
    """

    budget: int = 1
    sampling: SamplingParams = SamplingParams()
    options: Mapping[str, Any] = field(default_factory=dict)
    draft: Generator | None = None
    limits: Limits = Limits()

    def __post_init__(self):
        if self.budget < 1:
            raise InvalidArgumentError(f"budget={self.budget} must be >= 1")

    def params(self, n: int, **changes) -> SamplingParams:
        return replace(self.sampling, n=n, **changes)

    def parse(self, options_type: type, strategy: str):
        """The strategy's options dataclass from `options`; a name it does not have, or a value of the wrong
        kind, is an InvalidArgumentError that names it."""
        fields = {f.name: f for f in dataclasses.fields(options_type)}
        unknown = sorted(set(self.options) - set(fields))
        if unknown:
            raise InvalidArgumentError(f"{strategy} has no option {unknown[0]!r}; its options: {sorted(fields)}")
        values = {}
        for name, value in self.options.items():
            kind = type(getattr(options_type(), name))
            try:
                values[name] = kind(value) if not isinstance(value, kind) else value
            except (TypeError, ValueError):
                raise InvalidArgumentError(f"{strategy} option {name}={value!r} is not a {kind.__name__}") from None
        options = options_type(**values)
        if hasattr(options, "check"):
            options.check()
        return options


@dataclass(frozen=True)
class NoOptions:
    """The options of a strategy that has none of its own."""


@dataclass
class Candidate:
    text: str
    answer: Any  # read from the content (after a thinking model's think block)
    tokens: int
    finish_reason: str
    logprob: float  # summed over its tokens
    score: float | None = None  # a verifier's, or a confidence, where the strategy used one
    reasoning_tokens: int = 0  # of `tokens`, those inside its think block

    @property
    def mean_logprob(self) -> float:
        return self.logprob / max(self.tokens, 1)


@dataclass
class Result:
    answer: Any
    strategy: str
    budget: int
    samples: int  # samples started (finished or stopped early)
    # {"prompt", "generated", "reasoning", "answer", "by_model": {name: {"prompt", "generated", "reasoning"}}}:
    # reasoning + answer = generated (reasoning: inside think blocks)
    tokens: dict
    wall_s: float
    stop_reason: str
    candidates: list[Candidate]
    votes: dict = field(default_factory=dict)  # answer (as text) -> its votes (a count, or a summed weight)
    details: dict = field(default_factory=dict)  # what the strategy alone reports (thresholds, steps accepted...)
    cost: float | None = None  # dollars, from the limits' price table (None without one, or a model it lacks)

    def to_dict(self) -> dict:
        return asdict(self)

    def add_spend(self, tokens: dict, samples: int, prices) -> None:
        """The tokens (as `tokens` holds them) and samples of another part of the same run added (auto's choice
        after its probe); the cost priced again from the sum (None without prices)."""
        for key in ("prompt", "generated", "reasoning", "answer"):
            self.tokens[key] += tokens[key]
        for model, spent in tokens["by_model"].items():
            mine = self.tokens["by_model"].setdefault(model, {"prompt": 0, "generated": 0, "reasoning": 0})
            for key in mine:
                mine[key] += spent[key]
        self.samples += samples
        self.cost = None if prices is None else prices.cost(self.tokens["by_model"])


@dataclass
class Vote:
    """One answer of a tally: its candidates' summed weight (a count, or verifier scores, or confidences) and
    summed logprob (which breaks ties)."""

    answer: Any
    weight: float
    logprob: float


def tally(candidates: list[Candidate], weight: Callable[[Candidate], float] = lambda c: 1.0) -> list[Vote]:
    """Equivalent answers pooled (answer.equivalent: "0.5" and "1/2" are one answer), most weight first (ties: the
    higher summed logprob). Unanswered candidates are out."""
    votes: dict[int, Vote] = {}
    for c, label in zip(candidates, classes([c.answer for c in candidates])):
        if label is None:
            continue
        if label not in votes:
            votes[label] = Vote(c.answer, weight(c), c.logprob)
        else:
            votes[label].weight += weight(c)
            votes[label].logprob += c.logprob
    return sorted(votes.values(), key=lambda v: (v.weight, v.logprob), reverse=True)


def vote_counts(candidates: list[Candidate], weight: Callable[[Candidate], float] = lambda c: 1.0) -> dict:
    """The tally as a Result shows it: each answer (as text) and its votes, most first."""
    return {str(v.answer): round(v.weight, 4) if isinstance(v.weight, float) and not v.weight.is_integer()
            else int(v.weight) for v in tally(candidates, weight)}


def majority(candidates: list[Candidate], weight: Callable[[Candidate], float] = lambda c: 1.0
             ) -> tuple[Any, dict]:
    """The answer with the most votes (ties: the higher summed logprob) and the tally; None if no answers."""
    counts = vote_counts(candidates, weight)
    if not counts:
        return None, {}
    return tally(candidates, weight)[0].answer, counts


@dataclass
class Partial:
    """A solution built step by step: its text so far, whether it has ended, and what its path cost."""

    text: str = ""
    done: bool = False
    tokens: int = 0  # generated along its path
    logprob: float = 0.0  # summed along its path
    score: float = 0.0  # the verifier's, for its latest step
    step: str = ""  # the step that was added last


AGGREGATES = {"last": lambda s: s[-1] if s else 0.0, "min": lambda s: min(s, default=0.0),
              "mean": lambda s: sum(s) / len(s) if s else 0.0}  # a partial solution's score from its steps'


async def score_partials(problem: Problem, verifier: Verifier, partials: list[Partial], aggregate: str) -> None:
    """Each partial solution's score, from a step verifier's scores of its steps (beam and particle)."""
    for partial, steps in zip(partials, await verifier.score_steps(problem, [p.text for p in partials])):
        partial.score = AGGREGATES[aggregate](steps)


class Session:
    """One strategy run on one problem: submits to the generators, keeps the accounts of every stream and
    scoring call (per model), turns samples into candidates and builds the Result."""

    def __init__(self, strategy: str, problem: Problem, generator: Generator, config: StrategyConfig):
        self.strategy = strategy
        self.problem = problem
        self.generator = generator
        self.config = config
        self.started = time.perf_counter()
        self.samples = 0
        self._streams: list[tuple[str, Stream]] = []
        self._scored: dict[str, int] = {}
        self.spend = RUN.get()  # the run's spend limits (anytime.run_limited), or None
        if self.spend is not None:
            self.spend.sessions.append(self)

    async def submit(self, n: int, prefix: str = "", generator: Generator | None = None, **changes) -> Stream:
        """Start n samples of the problem (after `prefix`, if given) with the configured sampling. With a seed
        in the config, the i-th submission is seeded from it and i, so every request draws fresh samples and
        the whole run repeats exactly."""
        generator = generator or self.generator
        if self.config.sampling.seed is not None and "seed" not in changes:
            changes["seed"] = derive_seed(self.config.sampling.seed, "submit", len(self._streams))
        if self.problem.stop:
            changes["stop"] = tuple(changes.get("stop", self.config.sampling.stop or ())) + self.problem.stop
        params = self.config.params(n, **changes)
        if self.spend is None:
            stream = await generator.submit(self.problem.prompt(), params, prefix)
        else:  # as many samples, of as many tokens, as the run's limits leave room for
            shared = getattr(generator, "shares_prompt", True)
            prompt = self._prompt_tokens(generator, prefix, params.enable_thinking)
            n, max_tokens = self.spend.admit(generator.name, n, params.max_tokens, prompt, shared,
                                             answered_by=self.generator.name)
            params = replace(params, n=n, max_tokens=max_tokens, min_tokens=min(params.min_tokens, max_tokens),
                             keep_first=params.keep_first and min(params.keep_first, n),
                             answer_reserve=params.answer_reserve and min(params.answer_reserve, max_tokens - 1))
            stream = await generator.submit(self.problem.prompt(), params, prefix)
            self.spend.started_stream(generator.name, stream, max_tokens, prompt, shared)
        self._streams.append((generator.name, stream))
        self.samples += n
        return stream

    async def more(self, n: int, **changes) -> Stream | None:
        """`submit` for a run that has samples running and would add some: None where its limits leave no room
        for more, so those running finish (under a limit, a run's anytime answer is what they give)."""
        try:
            return await self.submit(n, **changes)
        except LimitReached:
            return None

    def _prompt_tokens(self, generator: Generator, prefix: str, enable_thinking: bool = True,
                       alone: bool = False) -> int | None:
        """The problem's prompt and `prefix` in tokens (`alone`: `prefix` only), as the generator will read them
        (None: no tokenizer here, or no cost cap that needs them)."""
        tokenizer = getattr(generator, "tokenizer", None)
        if tokenizer is None or self.spend.limits.max_cost is None:
            return None
        text = prefix if alone else prompt_text(tokenizer, self.problem.prompt(), "", enable_thinking) + prefix
        return len(tokenizer.encode(text, add_special_tokens=False))

    def record(self, generator: Generator, stream: Stream) -> None:
        """A stream started outside `submit` (a run's anytime answer), kept in the accounts."""
        self._streams.append((generator.name, stream))
        self.samples += stream.n

    async def score(self, continuation: str | list[str], prefix: str = "", generator: Generator | None = None
                    ) -> list[float] | list[list[float]]:
        """Per-token logprobs of `continuation` after the prompt and `prefix` (a list of steps: one pass, one
        list per step)."""
        generator = generator or self.generator
        if self.spend is not None:  # the pass is paid for before it runs: refused where it does not fit
            counts = [self._prompt_tokens(generator, segment, alone=True) for segment in
                      ([continuation] if isinstance(continuation, str) else continuation)]
            self.spend.check_score(generator.name, None if None in counts else sum(counts))
        logprobs = await generator.score(self.problem.prompt(), continuation, prefix)
        count = len(logprobs) if isinstance(continuation, str) else sum(map(len, logprobs))
        self._scored[generator.name] = self._scored.get(generator.name, 0) + count
        if self.spend is not None:
            self.spend.scored(generator.name, count)
        return logprobs

    async def expand(self, partial: Partial, n: int, delimiter: str, generator: Generator | None = None
                     ) -> list[Partial]:
        """n continuations of `partial` by one step each: up to the delimiter (kept in the text), or to the end
        of the solution (then `done`)."""
        stream = await self.submit(n, prefix=partial.text, generator=generator, stop=(delimiter,))
        children = []
        for sample in await stream.collect():
            more = sample.stop_string == delimiter  # stopped at a step's end, not at the end of the solution
            step = sample.text + (delimiter if more else "")
            children.append(Partial(partial.text + step, not more, partial.tokens + sample.tokens,
                                    partial.logprob + sample.logprob, step=step))
        return children

    def candidate(self, sample: Sample, score: float | None = None) -> Candidate:
        """A finished sample as a candidate: its answer read from its content."""
        return Candidate(sample.text, self.problem.extract(sample.content), sample.tokens, sample.finish_reason,
                         sample.logprob, score, sample.reasoning_tokens)

    def finished(self, partial: Partial) -> Candidate:
        """A solution built step by step, as a candidate (its answer read from its content)."""
        _, content = self.split(partial.text)
        return Candidate(partial.text, self.problem.extract(content), partial.tokens,
                         "stop" if partial.done else "length", round(partial.logprob, 4), round(partial.score, 6))

    def split(self, text: str) -> tuple[str, str]:
        """(reasoning, content) of a completion of the problem's prompt (a model that does not think: all content)."""
        if not self._streams:
            return "", text
        stream = self._streams[0][1]
        return ("", text) if stream.markers is None else stream.markers.split(text, stream.opened)

    def tokens(self) -> dict:
        by_model: dict[str, dict] = {}
        for name, stream in self._streams:
            spent = by_model.setdefault(name, {"prompt": 0, "generated": 0, "reasoning": 0})
            spent["prompt"] += stream.usage.prompt
            spent["generated"] += stream.usage.generated
            spent["reasoning"] += stream.usage.reasoning
        for name, count in self._scored.items():  # a scored continuation is computed like a prompt
            by_model.setdefault(name, {"prompt": 0, "generated": 0, "reasoning": 0})["prompt"] += count
        total = {key: sum(s[key] for s in by_model.values()) for key in ("prompt", "generated", "reasoning")}
        return {**total, "answer": total["generated"] - total["reasoning"], "by_model": by_model}

    def result(self, answer: Any, candidates: list[Candidate], stop_reason: str, votes: dict | None = None,
               **details) -> Result:
        tokens, prices = self.tokens(), self.config.limits.prices
        return Result(answer, self.strategy, self.config.budget, self.samples, tokens,
                      round(time.perf_counter() - self.started, 4), stop_reason, candidates, votes or {}, details,
                      None if prices is None else prices.cost(tokens["by_model"]))


class Events:
    """The events of several streams as they arrive, with streams added on the way; leaving the block aborts
    every sample still running (so a decided strategy, or a cancelled one, frees its compute at once).

    Example:
        >>> async with Events() as events:
        ...     events.add(await session.submit(8))
        ...     async for stream, event in events:
        ...         ...
    """

    def __init__(self):
        self.streams: list[Stream] = []
        self._queue: asyncio.Queue = asyncio.Queue()
        self._pumps: list[asyncio.Task] = []
        self._open = 0

    def add(self, stream: Stream) -> Stream:
        self.streams.append(stream)
        self._open += 1

        async def pump():
            try:
                async for event in stream:
                    self._queue.put_nowait((stream, event))
            except Exception as error:  # handed to the reader
                self._queue.put_nowait((stream, error))
            finally:
                self._queue.put_nowait((stream, None))
        self._pumps.append(asyncio.create_task(pump()))
        return stream

    def __aiter__(self) -> AsyncIterator[tuple[Stream, SampleEvent]]:
        return self

    async def __anext__(self) -> tuple[Stream, SampleEvent]:
        while self._open:
            stream, item = await self._queue.get()
            if item is None:
                self._open -= 1
            elif isinstance(item, Exception):
                raise item
            else:
                return stream, item
        raise StopAsyncIteration

    async def abort(self) -> None:
        """Stop every sample still running (all at once); their last events still arrive."""
        await asyncio.gather(*(stream.abort() for stream in self.streams))

    async def __aenter__(self) -> Events:
        return self

    async def __aexit__(self, *exc) -> None:
        try:
            await asyncio.shield(self.abort())
        finally:
            for pump in self._pumps:
                pump.cancel()


class Traces:
    """Each running sample's text, token logprobs and reasoning tokens, built up from its events (key: (stream,
    index)), and whether it has finished thinking."""

    def __init__(self):
        self.text: dict[tuple[int, int], list[str]] = {}
        self.logprobs: dict[tuple[int, int], list[float]] = {}
        self.reasoning: dict[tuple[int, int], int] = {}
        self.streams: dict[int, Stream] = {}
        self._thought: set[tuple[int, int]] = set()
        self._tail: dict[tuple[int, int], str] = {}  # the last characters, where an end marker may have begun

    def add(self, stream: Stream, event: SampleEvent) -> tuple[int, int]:
        key = (id(stream), event.index)
        self.streams[key[0]] = stream
        self.text.setdefault(key, []).append(event.text)
        self.logprobs.setdefault(key, []).extend(event.logprobs)
        self.reasoning[key] = self.reasoning.get(key, 0) + event.reasoning
        if stream.markers is not None and key not in self._thought:
            closed, self._tail[key] = stream.markers.closes(self._tail.get(key, ""), event.text)
            if closed:
                self._thought.add(key)
        return key

    def thought(self, key: tuple[int, int]) -> bool:
        """Whether the sample has finished thinking: its stream's end marker is in its text so far (never, for a
        model that does not think)."""
        return key in self._thought

    def sample(self, key: tuple[int, int], event: SampleEvent) -> Sample:
        """The finished sample, from its last event."""
        return self.streams[key[0]].sample(key[1], "".join(self.text.get(key, [])), self.logprobs.get(key, []),
                                           self.reasoning.get(key, 0))

    def ended(self, key: tuple[int, int], event: SampleEvent) -> bool:
        """Whether the sample has ended as a race counts it (SamplingParams.keep_first): it has finished thinking,
        or it stopped (end of sequence or a stop string) without having been in a think block."""
        return self.thought(key) or (event.finish_reason == "stop" and not self.reasoning_tokens(key)
                                     and not self.streams[key[0]].opened)

    def reasoning_tokens(self, key: tuple[int, int]) -> int:
        """How many reasoning tokens the sample has written so far."""
        return self.reasoning.get(key, 0)


def require(verifier: Verifier | None, strategy: str, step: bool = False) -> Verifier:
    """The verifier a strategy cannot run without; a clear error when it is missing or cannot score steps."""
    if verifier is None:
        raise InvalidArgumentError(f"{strategy} needs a verifier (--verifier)")
    if step and not isinstance(verifier, StepVerifier):
        raise InvalidArgumentError(f"{strategy} needs a process (step) verifier; {verifier.name} scores whole "
                                   f"solutions only")
    return verifier
