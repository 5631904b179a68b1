"""OpenAIGenerator: the Generator protocol over any OpenAI-compatible server (vLLM, SGLang, llama.cpp, hosted APIs,
another `ponder serve`), through the official `openai` client.

    generator = OpenAIGenerator("http://127.0.0.1:8000/v1", "ponder-arith", chat_template="ponder-arith")
    result = await STRATEGIES["adaptive-vote"](problem, generator, None, StrategyConfig(budget=32))

Each sample is its own streamed request (n of them run in parallel, under a concurrency limit), so one sample
can be aborted by closing its stream, and servers that ignore `n` (llama.cpp) work the same. The server's
prefix cache, where it has one, computes the shared prompt once. Retries with backoff on 429 and 5xx are the
openai client's (`max_retries`). Tokens are counted from the per-token logprobs the stream carries.

What a remote server cannot do: `fork` a running sample, and `score` a given continuation (so `spec-reason`
needs a local target). A partial answer (`prefix`, for step-wise strategies) is continued through the text
completions API, with the prompt rendered by the model's chat template: give `chat_template` (a shipped model
or a Hugging Face folder with the same tokenizer) for that.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import weakref

from ponder.backends.base import Prompt, SampleEvent, SamplingParams, Stream, TokenUsage, prompt_text
from ponder.errors import InvalidArgumentError


class OpenAIGenerator:
    """Args:
        base_url: the server's API root, e.g. http://127.0.0.1:8000/v1.
        model: the model name to ask for.
        api_key: the server's key (any string where it needs none).
        concurrency: the most samples streaming at once.
        max_retries: retries of a request refused with 429 or 5xx (exponential backoff, the client's).
        chat_template: a model (shipped name or folder) whose chat template renders prompts for continuations.
    """

    def __init__(self, base_url: str, model: str, *, api_key: str = "-", concurrency: int = 16,
                 max_retries: int = 3, chat_template: str | None = None, timeout: float = 600.0):
        if importlib.util.find_spec("openai") is None:  # checked here, so it is a clear error at once
            raise InvalidArgumentError("the openai backend needs the openai client: pip install 'ponder[openai]'")
        self.base_url = base_url
        self._client_args = dict(base_url=base_url, api_key=api_key, max_retries=max_retries, timeout=timeout)
        self._concurrency = concurrency
        self._per_loop: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.name = model
        self.usage = TokenUsage()
        self.tokenizer = None
        if chat_template is not None:
            from transformers import AutoTokenizer

            from ponder.models import resolve

            self.tokenizer = AutoTokenizer.from_pretrained(resolve(chat_template))
        self._ids = itertools.count()

    def _connection(self):
        """The client and the concurrency gate of the running event loop (each asyncio.run has its own: an
        async HTTP client and a semaphore belong to the loop they were first used in)."""
        loop = asyncio.get_running_loop()
        if loop not in self._per_loop:
            from openai import AsyncOpenAI

            self._per_loop[loop] = (AsyncOpenAI(**self._client_args), asyncio.Semaphore(self._concurrency))
        return self._per_loop[loop]

    async def submit(self, prompt: Prompt, params: SamplingParams, prefix: str = "") -> Stream:
        if prefix and self.tokenizer is None:
            raise InvalidArgumentError("continuing a partial answer over HTTP needs the model's chat template: "
                                       "OpenAIGenerator(..., chat_template=MODEL)")
        request_id = next(self._ids)
        queue: asyncio.Queue = asyncio.Queue()
        tasks: list[asyncio.Task] = []

        async def events():
            open_ = params.n
            while open_:
                event = await queue.get()
                if isinstance(event, BaseException):
                    raise event
                open_ -= event.finished
                yield event

        async def abort(index: int | None) -> None:
            for i, task in enumerate(tasks):
                if index is None or i == index:
                    task.cancel()  # closes its HTTP stream; the task still sends the sample's last event

        stream = Stream(events(), params.n, 0, abort=abort, sink=self.usage)
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

    async def score(self, prompt: Prompt, continuation, prefix: str = ""):
        raise InvalidArgumentError(f"the server behind {self.name!r} cannot score a given continuation over the "
                                   "OpenAI API (spec-reason needs a local target)")

    async def _sample(self, request_id: int, index: int, prompt: Prompt, params: SamplingParams, prefix: str,
                      queue: asyncio.Queue, stream: Stream, ended: set[int]) -> None:
        """Stream one sample, putting its events on `queue`; always ends with a finished event (or an error).
        The prompt tokens the server reports in its usage are added to `stream`'s account (and the generator's)."""
        common = dict(model=self.name, n=1, temperature=params.temperature, top_p=params.top_p,
                      max_tokens=params.max_tokens, stop=list(params.stop) or None, stream=True,
                      seed=None if params.seed is None else params.seed + index)
        generated, finish, stop_string = 0, "abort", None
        client, gate = self._connection()
        try:
            async with gate:
                if prefix or isinstance(prompt, str):
                    text = prompt_text(self.tokenizer, prompt, prefix) if prefix else prompt
                    response = await client.completions.create(prompt=text, logprobs=params.logprobs, **common)
                else:
                    response = await client.chat.completions.create(
                        messages=prompt, logprobs=True, top_logprobs=params.logprobs or None, **common)
                async with response:
                    async for chunk in response:
                        if chunk.usage is not None:
                            stream.usage.add(prompt=chunk.usage.prompt_tokens)
                            self.usage.add(prompt=chunk.usage.prompt_tokens)
                        for choice in chunk.choices:
                            event = _event(request_id, index, choice, params.logprobs)
                            if event is not None:
                                generated += len(event.token_ids)
                                queue.put_nowait(event)
                            if choice.finish_reason:
                                finish = "length" if choice.finish_reason == "length" else "stop"
                                stop_string = (choice.model_extra or {}).get("stop_reason")
        except asyncio.CancelledError:
            finish = "abort"
        except Exception as error:  # the server failed this sample after its retries: the strategy learns it
            ended.add(index)
            queue.put_nowait(error)
            return
        ended.add(index)
        queue.put_nowait(SampleEvent(request_id, index, [], "", [], finish_reason=finish,
                                     generated_tokens=generated,
                                     stop_string=stop_string if isinstance(stop_string, str) else None))


def _event(request_id: int, index: int, choice, top: int) -> SampleEvent | None:
    """A chunk's tokens as an event: their count and logprobs from the chunk's logprobs (one per token)."""
    if hasattr(choice, "delta"):  # chat
        text = choice.delta.content or ""
        entries = (choice.logprobs.content or []) if choice.logprobs else []
        logprobs = [e.logprob for e in entries]
        tops = [{t.token: t.logprob for t in e.top_logprobs} for e in entries] if top else None
    else:
        text = choice.text or ""
        logprobs = list(choice.logprobs.token_logprobs or []) if choice.logprobs else []
        tops = (list(choice.logprobs.top_logprobs) if top and choice.logprobs and choice.logprobs.top_logprobs
                else None)  # keyed by token text over HTTP (the engine keys them by id): only values are read
    if not text and not logprobs:
        return None
    count = len(logprobs) or 1  # a server that sends no logprobs: a chunk counts as one token
    return SampleEvent(request_id, index, [-1] * count, text, logprobs or [0.0] * count, tops)
