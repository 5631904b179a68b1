"""OpenAIGenerator: the Generator protocol over any OpenAI-compatible server (vLLM, SGLang, llama.cpp, hosted APIs,
another `ponder serve`), through the official `openai` client.

    generator = OpenAIGenerator("http://127.0.0.1:8000/v1", "ponder-arith", chat_template="ponder-arith")
    result = await STRATEGIES["adaptive-vote"](problem, generator, None, StrategyConfig(budget=32))

Each sample is its own streamed request (n of them run in parallel, under a concurrency limit), so one sample
can be aborted by closing its stream, and servers that ignore `n` (llama.cpp) work the same. The server's
prefix cache, where it has one, computes the shared prompt once. Retries with backoff on 429 and 5xx are the
openai client's (`max_retries`). Tokens are counted from the per-token logprobs the stream carries.

A partial answer (`prefix`, for step-wise strategies) is continued, and a given continuation scored (`score`,
for spec-reason's target), through the text completions API, with the prompt rendered by the model's chat
template: give `chat_template` (a shipped model or a Hugging Face folder with the same tokenizer) for that. Scoring reads the prompt's logprobs from `echo`, which vLLM, llama.cpp
and ponder serve return; hosted APIs mostly do not.
"""

from __future__ import annotations

import asyncio
import bisect
import importlib.util
import itertools
import weakref

from ponder.backends.base import Prompt, Race, SamplingParams, Stream, TokenUsage, prompt_text
from ponder.errors import BackendError, InvalidArgumentError, PonderError
from ponder.reasoning import ReasoningMarkers, found, markers_of
from ponder.sampling import SampleEvent, StopStrings
from ponder.seeds import derive_seed


class OpenAIGenerator:
    """Each sample is a request of its own, so a server bills its prompt once per sample (`shares_prompt`).

    Args:
        base_url: the server's API root, e.g. http://127.0.0.1:8000/v1.
        model: the model name to ask for.
        api_key: the server's key (any string where it needs none).
        concurrency: the most samples streaming at once.
        max_retries: retries of a request refused with 429 or 5xx (exponential backoff, the client's).
        chat_template: a model (shipped name or folder) whose chat template renders prompts for continuations.
        extra_body: fields added to every sampling request, beyond OpenAI's own: e.g. llama.cpp's
            {"repeat_penalty": 1.0, "top_k": 0, "min_p": 0.0}, since its server's defaults (1.1, 40, 0.05) change
            the model's distribution, greedy answers included.
        reasoning_markers: how a thinking model's samples split into reasoning and content (None: the chat
            template model's tokenizer's, else `<think>`/`</think>`, which leave a model that does not think
            all content). A thinking budget is sent as vLLM's `thinking_token_budget` (its server needs
            `--reasoning-parser`; a server without the field may ignore it).
    """

    def __init__(self, base_url: str, model: str, *, api_key: str = "-", concurrency: int = 16,
                 max_retries: int = 3, chat_template: str | None = None, timeout: float = 600.0,
                 extra_body: dict | None = None, reasoning_markers: ReasoningMarkers | None = None):
        if importlib.util.find_spec("openai") is None:  # checked here, so it is a clear error at once
            raise InvalidArgumentError("the openai backend needs the openai client: pip install 'ponder[openai]'")
        self.base_url = base_url
        self._client_args = dict(base_url=base_url, api_key=api_key, max_retries=max_retries, timeout=timeout)
        self._concurrency = concurrency
        self._per_loop: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.name = model
        self.shares_prompt = False
        self.extra_body = extra_body or None
        self.usage = TokenUsage()
        self.tokenizer = None
        if chat_template is not None:
            from transformers import AutoTokenizer

            from ponder.models import resolve

            self.tokenizer = AutoTokenizer.from_pretrained(resolve(chat_template))
        self.markers = reasoning_markers or (self.tokenizer and markers_of(self.tokenizer)) or ReasoningMarkers()
        self.continues = self.tokenizer is not None  # a partial answer is continued with the chat template
        self._ids = itertools.count()

    def _connection(self):
        """The client and the concurrency gate of the running event loop (each asyncio.run has its own: an
        async HTTP client and a semaphore belong to the loop they were first used in)."""
        loop = asyncio.get_running_loop()
        if loop not in self._per_loop:
            from openai import AsyncOpenAI

            self._per_loop[loop] = (AsyncOpenAI(**self._client_args), asyncio.Semaphore(self._concurrency))
        return self._per_loop[loop]

    def load(self) -> dict:
        return {}  # the server's own rows are its business (its /metrics)

    def close(self) -> None:
        """Nothing to stop here: each event loop's HTTP client closes with its loop."""

    async def submit(self, prompt: Prompt, params: SamplingParams, prefix: str = "") -> Stream:
        if prefix and self.tokenizer is None:
            raise InvalidArgumentError("continuing a partial answer over HTTP needs the model's chat template: "
                                       "OpenAIGenerator(..., chat_template=MODEL)")
        if params.min_thinking_tokens or params.answer_reserve:
            raise InvalidArgumentError("min_thinking_tokens and answer_reserve are ponder's engine's: an "
                                       "OpenAI-compatible server has no such fields (use --backend local)")
        if isinstance(prompt, str) and not params.enable_thinking:
            prompt_text(None, prompt, "", enable_thinking=False)  # refused: a text prompt is sent as it is
        opened = False
        if self.tokenizer is not None:
            opened = self.markers.opens(prompt_text(self.tokenizer, prompt, "", params.enable_thinking))
        elif isinstance(prompt, str):
            opened = self.markers.opens(prompt)
        request_id = next(self._ids)
        queue: asyncio.Queue = asyncio.Queue()
        tasks: list[asyncio.Task] = []

        race = Race(params.keep_first, self.markers, opened) if params.keep_first else None

        async def events():
            open_ = params.n
            while open_:
                event = await queue.get()
                if isinstance(event, BaseException):
                    raise event
                open_ -= event.finished
                if race is not None and race.decides(event):
                    for i, task in enumerate(tasks):
                        if i not in race.ended:
                            task.cancel()
                yield event

        async def abort(index: int | None) -> None:
            for i, task in enumerate(tasks):
                if index is None or i == index:
                    task.cancel()  # closes its HTTP stream; the task still sends the sample's last event

        stream = Stream(events(), params.n, 0, abort=abort, sink=self.usage, markers=self.markers, opened=opened,
                        prefix=prefix)
        ended: set[int] = set()  # samples whose last event is out

        def end(index: int, task: asyncio.Task) -> None:  # a task cancelled before it ran never sent one
            if index not in ended:
                ended.add(index)
                queue.put_nowait(SampleEvent(request_id, index, [], "", [], finish_reason="abort"))
        for i in range(params.n):
            tasks.append(asyncio.ensure_future(self._sample(request_id, i, prompt, params, prefix, queue, stream,
                                                            ended)))
            tasks[-1].add_done_callback(lambda task, i=i: end(i, task))
        return stream

    async def score(self, prompt: Prompt, continuation: str | list[str], prefix: str = ""
                    ) -> list[float] | list[list[float]]:
        """Through the completions API's echo (vLLM, llama.cpp and ponder serve have it): the whole text sent
        with `echo=true, logprobs=0`, and the continuation's tokens picked out by their `text_offset`, counted
        back from the prompt's end (servers differ in how they count special tokens before it). The text is
        tokenized whole, not segment by segment: with merges, a token across a segment boundary counts for the
        segment it starts in (the embedded models' one-character tokens never cross one)."""
        if self.tokenizer is None:
            raise InvalidArgumentError("scoring over HTTP renders the prompt with the model's chat template: "
                                       "OpenAIGenerator(..., chat_template=MODEL)")
        segments = [continuation] if isinstance(continuation, str) else list(continuation)
        client, gate = self._connection()
        async with gate:
            # one generated token, not 0: llama.cpp reads max_tokens=0 as "until the context is full"
            response = await client.completions.create(
                model=self.name, prompt=prompt_text(self.tokenizer, prompt, prefix) + "".join(segments), echo=True,
                logprobs=0, max_tokens=1, temperature=0, extra_body=self.extra_body)
        logprobs = response.choices[0].logprobs
        if logprobs is None or not logprobs.text_offset:
            raise InvalidArgumentError(f"the server behind {self.name!r} does not return the prompt's logprobs "
                                       "(echo with logprobs), so it cannot score a given continuation")
        generated = response.usage.completion_tokens if response.usage else 1
        self.usage.add(prompt=len(logprobs.tokens) - generated)
        last = len(logprobs.tokens) - generated - 1  # the prompt's last token
        end = logprobs.text_offset[last] + len(logprobs.tokens[last])
        starts = list(itertools.accumulate((len(s) for s in reversed(segments)), lambda a, b: a - b, initial=end))
        starts = starts[::-1]  # where each segment starts, then the end
        scored: list[list[float]] = [[] for _ in segments]
        for offset, token, logprob in zip(logprobs.text_offset[:last + 1], logprobs.tokens, logprobs.token_logprobs):
            segment = bisect.bisect_right(starts, offset) - 1
            if 0 <= segment < len(segments) and token:  # an empty token: a special one of the prompt's end
                scored[segment].append(logprob)
        return scored[0] if isinstance(continuation, str) else scored

    async def _sample(self, request_id: int, index: int, prompt: Prompt, params: SamplingParams, prefix: str,
                      queue: asyncio.Queue, stream: Stream, ended: set[int]) -> None:
        """Stream one sample, putting its events on `queue`; always ends with a finished event (or an error).
        The prompt tokens the server reports in its usage are added to `stream`'s account (and the generator's)."""
        # stop strings are matched here, not sent: servers do not all say which one ended a sample (llama.cpp
        # says only "stop"), and step-wise strategies must know a step's end from the answer's
        native, extra = request_fields(params)
        common = dict(model=self.name, n=1, temperature=params.temperature, top_p=params.top_p,
                      max_tokens=params.max_tokens, stream=True, stream_options={"include_usage": True},
                      extra_body={**(self.extra_body or {}), **extra} or None, **native,
                      seed=None if params.seed is None else derive_seed(params.seed, index))
        generated, finish, stop_string, counted = 0, "abort", None, False
        stops = StopStrings(params.stop)
        thinking = _Thinking(self.markers, stream.thinking, self.markers.end in prefix)
        client, gate = self._connection()
        try:
            async with gate:
                if prefix or isinstance(prompt, str):
                    text = prompt_text(self.tokenizer, prompt, prefix, params.enable_thinking) if prefix else prompt
                    response = await client.completions.create(prompt=text, logprobs=params.logprobs, **common)
                else:
                    if not params.enable_thinking:  # vLLM's and SGLang's way to the chat template
                        common["extra_body"] = {**(common["extra_body"] or {}),
                                                "chat_template_kwargs": {"enable_thinking": False}}
                    response = await client.chat.completions.create(
                        messages=prompt, logprobs=True, top_logprobs=params.logprobs or None, **common)
                async with response:
                    async for chunk in response:
                        if chunk.usage is not None:
                            stream.usage.add(prompt=chunk.usage.prompt_tokens)
                            self.usage.add(prompt=chunk.usage.prompt_tokens)
                            counted = True
                        for choice in chunk.choices:
                            event = _event(request_id, index, choice, params.logprobs, thinking)
                            if event is not None:
                                generated += event.tokens
                                # no stop string ends a sample before min_tokens (vLLM's rule, the engine's too)
                                ready, stop_string = stops.feed(event) if generated >= params.min_tokens else \
                                    ([event], None)
                                for piece in ready:
                                    queue.put_nowait(piece)
                                if stop_string is not None:
                                    finish = "stop"
                                    break  # leaving the stream closes it: the server stops at once
                            if choice.finish_reason:
                                finish = "length" if choice.finish_reason == "length" else "stop"
                        if stop_string is not None:
                            break
                    for piece in stops.flush():
                        queue.put_nowait(piece)
        except asyncio.CancelledError:
            finish = "abort"
            for piece in stops.flush():  # generated, if held back: they count
                queue.put_nowait(piece)
        except Exception as error:  # the server failed this sample after its retries: the strategy learns it
            ended.add(index)
            queue.put_nowait(error if isinstance(error, PonderError) else
                             BackendError(f"{self.base_url}: {type(error).__name__}: {error}"))
            return
        if not counted and self.tokenizer is not None:  # no usage came (closed at a stop string, or a server that
            tokens = len(self.tokenizer(prompt_text(self.tokenizer, prompt, prefix),  # sends none): counted here
                                        add_special_tokens=False).input_ids)
            stream.usage.add(prompt=tokens)
            self.usage.add(prompt=tokens)
        ended.add(index)
        queue.put_nowait(SampleEvent(request_id, index, [], "", [], finish_reason=finish,
                                     generated_tokens=generated,
                                     stop_string=stop_string if isinstance(stop_string, str) else None))


def _event(request_id: int, index: int, choice, top: int, thinking: _Thinking) -> SampleEvent | None:
    """A chunk's tokens as an event: their count and logprobs from the chunk's logprobs (one per token); a chat
    delta's reasoning, where the server splits it off, put back in the text with the markers it removed."""
    if hasattr(choice, "delta"):  # chat
        extra = choice.delta.model_extra or {}
        reasoning = getattr(choice.delta, "reasoning", None) or extra.get("reasoning") or \
            extra.get("reasoning_content") or ""
        text = choice.delta.content or ""
        entries = (choice.logprobs.content or []) if choice.logprobs else []
        logprobs = [e.logprob for e in entries]
        tops = [{t.token: t.logprob for t in e.top_logprobs} for e in entries] if top else None
    else:
        reasoning, text = "", choice.text or ""
        logprobs = list(choice.logprobs.token_logprobs or []) if choice.logprobs else []
        tops = (list(choice.logprobs.top_logprobs) if top and choice.logprobs and choice.logprobs.top_logprobs
                else None)  # keyed by token text over HTTP (the engine keys them by id): only values are read
    if not text and not reasoning and not logprobs:
        return None
    # token ids do not come over HTTP; a server that sends no logprobs: a chunk counts as one token
    logprobs = logprobs or [0.0]
    text, thought = thinking.feed(reasoning, text, len(logprobs))
    return SampleEvent(request_id, index, None, text, logprobs, tops, reasoning=thought)


def request_fields(params: SamplingParams) -> tuple[dict, dict]:
    """What a sampling request sends beyond n, temperature, top_p, max_tokens and seed: OpenAI's own fields, and
    the body's extra ones (vLLM's and SGLang's, most of them llama.cpp's too), each only where it asks something;
    then `params.extra`, the fields a client of ponder serve sent that ponder does not know, as they came."""
    native = {key: value for key, value in (("presence_penalty", params.presence_penalty),
                                            ("frequency_penalty", params.frequency_penalty)) if value}
    if params.logit_bias:
        native["logit_bias"] = {str(token): bias for token, bias in params.logit_bias}
    extra = {key: value for key, value, off in (
        ("top_k", params.top_k, 0), ("min_p", params.min_p, 0), ("repetition_penalty", params.repetition_penalty, 1),
        ("min_tokens", params.min_tokens, 0), ("stop_token_ids", list(params.stop_token_ids), []),
        ("thinking_token_budget", params.thinking_budget, None)) if value != off}
    return native, {**params.extra, **extra}


class _Thinking:
    """One sample's think block over HTTP: the raw text of each delta and how many of its tokens are reasoning.
    A server with a reasoning parser (vLLM's `reasoning`, SGLang's `reasoning_content`) sends the reasoning apart
    and drops the markers: they are put back (the end marker where the first delta after the reasoning comes), so
    the sample splits as a local one does. A server without one sends the markers in the text: tokens between them
    are reasoning (the markers themselves are not, as the engine counts them)."""

    def __init__(self, markers: ReasoningMarkers, thinking: bool, ended: bool):
        self.markers = markers
        self.thinking = thinking  # inside the think block (Stream.thinking, where the sample begins)
        self.ended = ended  # the think block has closed (in the partial answer the sample continues)
        self.parsed = False  # the server sends the reasoning apart
        self.tail = ""  # the last characters, where a marker may have begun

    def feed(self, reasoning: str, text: str, tokens: int) -> tuple[str, int]:
        if reasoning or (self.parsed and self.thinking):  # split by the server
            opening = "" if self.thinking or self.parsed else self.markers.start
            self.parsed = self.thinking = True
            if not text:  # (a delta with neither: the end marker's tokens, or text held back where one may begin)
                return opening + reasoning, tokens if reasoning else 0
            self.thinking, self.ended = False, True  # the answer begins: the end marker the server dropped is here
            return opening + reasoning + self.markers.end + text, max(tokens - 1, 0) if reasoning else 0
        if self.ended:
            return text, 0
        seen, self.tail = found(self.markers.end if self.thinking else self.markers.start, self.tail, text)
        if not seen:
            return text, tokens if self.thinking else 0
        if self.thinking:
            self.thinking, self.ended = False, True
        else:
            self.thinking = True
        self.tail = ""
        return text, 0
