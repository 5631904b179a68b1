"""A Generator over ponder's own engine: prompts computed once per request, continuous batching, abort.

The engine runs on a worker thread (AsyncEngine); any number of asyncio tasks submit to it at once and it
batches them step by step, so an evaluation that submits every problem together keeps the batch full.
"""

from __future__ import annotations

import asyncio
import itertools

import transformers

from ponder.backends.base import Prompt, SamplingParams, Stream, TokenUsage, prompt_text
from ponder.engine import AsyncEngine, LLMEngine
from ponder.models import DEFAULT_MODEL, resolve
from ponder.reasoning import ReasoningMarkers


LONG_PROMPT = 16_384  # characters: a longer prompt is tokenized in a thread (a 2 MB one takes seconds)


class LocalGenerator:
    """Sample from a shipped model or a Hugging Face model folder on ponder's engine.

    Args:
        model: a shipped model's name or a Hugging Face model folder.
        device: torch device to run on.
        seed: seeds the requests that bring no seed of their own, in the order they arrive, so a run that
            submits the same requests in the same order gets the same samples.
        max_rows: the most samples decoded in one batch.
        draft: a draft model (name or folder) for speculative decoding.
        reasoning_markers: a thinking model's markers (None: its tokenizer's, see reasoning.markers_of).

    Example:
        >>> gen = LocalGenerator("ponder-arith")
        >>> out = asyncio.run(generate(gen, [{"role": "user", "content": "Mia has 3 pens. ..."}], SamplingParams(n=4)))
    """

    def __init__(self, model: str = DEFAULT_MODEL, *, device: str = "cpu", seed: int = 0, max_rows: int = 256,
                 draft: str | None = None, reasoning_markers: ReasoningMarkers | None = None):
        transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bar on every start
        engine = LLMEngine.from_pretrained(resolve(model), device=device, seed=seed, max_rows=max_rows,
                                           draft=resolve(draft) if draft else None,
                                           reasoning_markers=reasoning_markers)
        self.name = model
        self.engine = AsyncEngine(engine)
        self.tokenizer = engine.tokenizer
        self.markers = engine.thinking.markers
        self.context = engine.context
        self.vocab = engine.vocab
        self.usage = TokenUsage()

    def encode(self, prompt: Prompt, prefix: str = "") -> list[int]:
        """Token ids of a text prompt, or of chat messages rendered with the model's chat template; then `prefix`."""
        return self.engine.engine.encode(prompt_text(self.tokenizer, prompt, prefix))

    async def submit(self, prompt: Prompt, params: SamplingParams, prefix: str = "") -> Stream:
        text = prompt_text(self.tokenizer, prompt, "", params.enable_thinking)
        if len(text) + len(prefix) > LONG_PROMPT:  # tokenized beside the event loop, which serves every other request
            ids = await asyncio.to_thread(self.engine.engine.encode, text + prefix)
        else:
            ids = self.engine.engine.encode(text + prefix)
        stream = await self.engine.submit(ids, params)

        async def abort(index: int | None) -> None:
            await self.engine.abort(stream.request_id, index)
        return Stream(stream, stream.n, len(ids), abort=abort, sink=self.usage, markers=self.markers,
                      opened=self.markers is not None and self.markers.opens(text), prefix=prefix)

    async def score(self, prompt: Prompt, continuation: str | list[str], prefix: str = ""
                    ) -> list[float] | list[list[float]]:
        ids = self.encode(prompt, prefix)
        segments = [continuation] if isinstance(continuation, str) else continuation
        pieces = [self.tokenizer.encode(s, add_special_tokens=False) for s in segments]
        logprobs = await self.engine.score(ids, [t for piece in pieces for t in piece])
        self.usage.add(prompt=len(ids) + len(logprobs))
        if isinstance(continuation, str):
            return logprobs
        ends = list(itertools.accumulate(len(piece) for piece in pieces))
        return [logprobs[end - len(piece):end] for piece, end in zip(pieces, ends)]

    def load(self) -> dict:
        """What the engine holds now: samples decoding (rows of the batch not finished), samples waiting to join;
        and since it started, samples aborted and tokens generated. Read from any thread (a snapshot, not locked)."""
        engine = self.engine.engine
        return {"active_rows": sum(not seq.finished for seq in engine.scheduler.running),
                "waiting_rows": engine.waiting_rows,
                "samples_aborted": engine.samples_aborted, "tokens_generated": engine.tokens_generated}

    def close(self) -> None:
        self.engine.close()
