"""What every layer says about sampling: how to sample (SamplingParams), what a sample did (SampleEvent), why it
ended (FinishReason), and where a stop string ends it (find_stop, StopStrings). The engine, the backends and the
strategies all speak these; this module imports nothing of ponder but its errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from ponder.errors import InvalidArgumentError

FinishReason = Literal["stop", "length", "abort"]


@dataclass(frozen=True)
class SamplingParams:
    """Args:
        n: samples drawn from the prompt (its KV is computed once and shared by all of them).
        temperature: 0 is greedy.
        top_p, top_k, min_p: truncation of the distribution; 1, 0 and 0 turn each off.
        max_tokens: the most tokens generated per sample.
        stop: strings that end a sample (found in the decoded text, across token boundaries; not returned).
        seed: makes a request's samples reproducible when it runs alone (each sample gets its own stream).
        logprobs: how many of the most likely tokens to report at each step (the chosen one always is).
        step_delimiter: a string (say "\\n") whose appearance in the text ends a reasoning step: the sample's
            event then carries `step_end=True`, so a strategy can act between steps.
        ignore_eos: go on past the end-of-sequence token (for benchmarks of a fixed length).
        enable_thinking: for a thinking model, think before answering (False: the chat template closes the
            think block empty, Qwen3's convention, and the model answers at once). Needs chat messages.
        thinking_budget: the most reasoning tokens a sample may write; at the budget the engine writes the end
            marker (then `answer_cue`) and the sample goes on to answer.
        min_thinking_tokens: s1's budget forcing: an end marker the model writes before this many reasoning
            tokens is replaced by "Wait", and it thinks on.
        answer_reserve: recovery from a thinking trace that would spend all of `max_tokens`: thinking is closed
            (as a thinking budget closes it) once only this many tokens are left, so the sample still answers.
            None: min(64, max_tokens // 4); 0: no recovery (plain truncation).
        answer_cue: text the engine writes after an end marker it forced (say "\n\nAnswer:").
        logit_bias: {token id: bias} added to its logit before a token is chosen (OpenAI's: -100 bans it, 100 all
            but forces it).
        presence_penalty, frequency_penalty: OpenAI's, in [-2, 2]: subtracted from the logit of every token the
            sample has generated, once (presence) or once per use (frequency).
        repetition_penalty: CTRL's and vLLM's, > 0 (1 is off): the logit of a token of the prompt or the output is
            divided by it where positive, multiplied where negative.
        min_tokens: the end of sequence, `stop_token_ids` and stop strings cannot end a sample before this many
            tokens (vLLM's).
        stop_token_ids: tokens that end a sample as the end of sequence does (vLLM's: the token is kept in
            `token_ids`, not in the text).
        extra: request fields for a server behind the OpenAI backend, sent as they are (ponder serve passes on
            the fields its clients sent that it does not know, as vLLM's server takes unknown ones); ponder's own
            engine reads none of them.
        keep_first: a race (first-finish, short-m@k): once this many samples have ended, the rest are aborted at
            once and only those go on. A sample ends when it closes its think block (then it writes its answer), or,
            outside any think block, when it stops (end of sequence or a stop string). The engine aborts the rest
            in the step the last one ends; over HTTP the stream aborts them as its events arrive.
    """

    n: int = 1
    temperature: float = 0.7
    top_p: float = 1.0
    top_k: int = 0
    min_p: float = 0.0
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = None
    logprobs: int = 0
    step_delimiter: str | None = None
    ignore_eos: bool = False
    enable_thinking: bool = True
    thinking_budget: int | None = None
    min_thinking_tokens: int = 0
    answer_reserve: int | None = None
    answer_cue: str = ""
    logit_bias: tuple[tuple[int, float], ...] = ()  # a dict is taken too, and kept as its items
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    repetition_penalty: float = 1.0
    min_tokens: int = 0
    stop_token_ids: tuple[int, ...] = ()
    extra: dict = field(default_factory=dict)
    keep_first: int | None = None

    def __post_init__(self):
        if isinstance(self.stop, str):  # a lone string is one stop string, not a tuple of characters
            object.__setattr__(self, "stop", (self.stop,))
        if isinstance(self.logit_bias, dict):
            object.__setattr__(self, "logit_bias", tuple(sorted(self.logit_bias.items())))
        object.__setattr__(self, "stop_token_ids", tuple(self.stop_token_ids))
        checks = [
            (self.n >= 1, f"n={self.n} must be >= 1"),
            (self.max_tokens >= 1, f"max_tokens={self.max_tokens} must be >= 1"),
            (self.temperature >= 0, f"temperature={self.temperature} must be >= 0"),
            (0 < self.top_p <= 1, f"top_p={self.top_p} must be in (0, 1]"),
            (self.top_k >= 0, f"top_k={self.top_k} must be >= 0"),
            (0 <= self.min_p < 1, f"min_p={self.min_p} must be in [0, 1)"),
            (self.logprobs >= 0, f"logprobs={self.logprobs} must be >= 0"),
            (all(isinstance(s, str) and s for s in self.stop), f"stop={self.stop!r} must be non-empty strings"),
            (self.step_delimiter is None or self.step_delimiter != "", "step_delimiter must not be empty"),
            (self.thinking_budget is None or self.thinking_budget >= 0,
             f"thinking_budget={self.thinking_budget} must be >= 0"),
            (self.min_thinking_tokens >= 0, f"min_thinking_tokens={self.min_thinking_tokens} must be >= 0"),
            (self.thinking_budget is None or self.min_thinking_tokens <= self.thinking_budget,
             f"min_thinking_tokens={self.min_thinking_tokens} must be <= thinking_budget={self.thinking_budget}"),
            (all(isinstance(t, int) and t >= 0 and -100 <= b <= 100 for t, b in self.logit_bias),
             "logit_bias must map token ids (>= 0) to biases in [-100, 100]"),
            (-2 <= self.presence_penalty <= 2, f"presence_penalty={self.presence_penalty} must be in [-2, 2]"),
            (-2 <= self.frequency_penalty <= 2, f"frequency_penalty={self.frequency_penalty} must be in [-2, 2]"),
            (self.repetition_penalty > 0, f"repetition_penalty={self.repetition_penalty} must be > 0"),
            (0 <= self.min_tokens <= self.max_tokens,
             f"min_tokens={self.min_tokens} must be in [0, max_tokens={self.max_tokens}]"),
            (all(isinstance(t, int) and t >= 0 for t in self.stop_token_ids),
             f"stop_token_ids={list(self.stop_token_ids)} must be token ids (>= 0)"),
            (self.keep_first is None or 1 <= self.keep_first <= self.n,
             f"keep_first={self.keep_first} must be in [1, n={self.n}]"),
            (self.answer_reserve is None or 0 <= self.answer_reserve < self.max_tokens,
             f"answer_reserve={self.answer_reserve} must be in [0, max_tokens={self.max_tokens})"),
        ]
        for ok, message in checks:
            if not ok:
                raise InvalidArgumentError(message)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    @property
    def adjusts_logits(self) -> bool:
        """Whether it asks anything of the logits (engine/logits.py)."""
        return bool(self.logit_bias or self.presence_penalty or self.frequency_penalty or self.min_tokens
                    or self.repetition_penalty != 1)

    def check_vocabulary(self, vocab: int) -> None:
        """The token ids it names (logit_bias, stop_token_ids) are in a vocabulary of `vocab` tokens."""
        for name, tokens in (("logit_bias", [t for t, _ in self.logit_bias]), ("stop_token_ids", self.stop_token_ids)):
            if any(t >= vocab for t in tokens):
                raise InvalidArgumentError(f"{name}: token {max(tokens)} is not in the model's vocabulary of "
                                           f"{vocab}", param=name)

    @property
    def reserve(self) -> int:
        """The answer reserve in tokens: `answer_reserve`, or by default min(64, max_tokens // 4)."""
        return min(64, self.max_tokens // 4) if self.answer_reserve is None else self.answer_reserve


@dataclass
class SampleEvent:
    """What one sample did in one engine step: the tokens it added (one, or several with speculative
    decoding), their text, the chosen tokens' logprobs (and the top ones if asked), whether a reasoning step
    ended, and once it is over, why (and which stop string, if one). Token counts are the sample's totals so far."""

    request_id: int
    index: int
    token_ids: list[int] | None  # None where the backend cannot know them (a remote server sends text)
    text: str
    logprobs: list[float]
    top_logprobs: list[dict[int, float]] | None = None
    step_end: bool = False
    finish_reason: FinishReason | None = None
    prompt_tokens: int = 0
    generated_tokens: int = 0
    stop_string: str | None = None  # the stop string that ended the sample (None: EOS, length or abort)
    reasoning: int = 0  # how many of its tokens are reasoning (inside the think block, markers not counted)

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None

    @property
    def tokens(self) -> int:
        """How many tokens it adds: one logprob each, on every backend."""
        return len(self.logprobs)


def find_stop(text: str, stops: tuple[str, ...], start: int = 0) -> tuple[int, str] | None:
    """Where the first stop string in `text[start:]` begins, and which one (the earliest; at one place, the first in
    sort order); None if none is there. OpenAI's semantics: the stop string ends the text and is not part of it."""
    found = [(at, stop) for at, stop in ((text.find(stop, start), stop) for stop in stops if stop) if at >= 0]
    return min(found) if found else None


def held_back(text: str, stops: tuple[str, ...]) -> int:
    """How many characters at the end of `text` may begin a stop string (the longest proper prefix of one that the
    text ends with): they wait until what follows says whether the stop string comes, since it is never sent."""
    return max((k for stop in stops for k in range(len(stop) - 1, 0, -1) if text.endswith(stop[:k])), default=0)


class StopStrings:
    """Stop strings found in a sample's streamed text, one event at a time (a backend that cannot stop the sampler
    itself, such as a remote server): events whose text may begin one are held back until it is clear, and the
    text is cut before the first one found."""

    def __init__(self, stops: tuple[str, ...]):
        self.stops = tuple(s for s in stops if s)
        self.held: list[SampleEvent] = []

    def feed(self, event: SampleEvent) -> tuple[list[SampleEvent], str | None]:
        """The events that can go out now, and the stop string found (None: none yet)."""
        if not self.stops:
            return [event], None
        self.held.append(event)
        text = "".join(e.text for e in self.held)
        found = find_stop(text, self.stops)
        if found is not None:
            held, self.held = self.held, []
            ids = [t for e in held for t in e.token_ids] if all(e.token_ids is not None for e in held) else None
            tops = [t for e in held for t in e.top_logprobs] if all(e.top_logprobs for e in held) else None
            logprobs = [x for e in held for x in e.logprobs]
            return [replace(held[0], token_ids=ids, text=text[:found[0]], logprobs=logprobs, top_logprobs=tops)], \
                found[1]
        if held_back(text, self.stops):
            return [], None  # might be the start of a stop string
        return self.flush(), None

    def flush(self) -> list[SampleEvent]:
        held, self.held = self.held, []
        return held
