"""A Generator over ponder's own engine: prompts computed once per request, continuous batching, abort.

The engine runs on a worker thread (AsyncEngine); any number of asyncio tasks submit to it at once and it
batches them step by step, so an evaluation that submits every problem together keeps the batch full.
"""

from __future__ import annotations

import transformers

from ponder.backends.base import Generation, Prompt, Sample, SamplingParams, TokenUsage, prompt_text
from ponder.engine import AsyncEngine, LLMEngine
from ponder.models import DEFAULT_MODEL, resolve


class LocalGenerator:
    """Sample from a shipped model or a Hugging Face model folder on ponder's engine.

    Args:
        model: a shipped model's name or a Hugging Face model folder.
        device: torch device to run on.
        seed: seeds the requests that bring no seed of their own, in the order they arrive, so a run that
            submits the same requests in the same order gets the same samples.
        max_rows: the most samples decoded in one batch.
        draft: a draft model (name or folder) for speculative decoding.

    Example:
        >>> gen = LocalGenerator("ponder-arith")
        >>> out = asyncio.run(gen.generate([{"role": "user", "content": "Mia has 3 pens. ..."}], SamplingParams(n=4)))
    """

    def __init__(self, model: str = DEFAULT_MODEL, *, device: str = "cpu", seed: int = 0, max_rows: int = 256,
                 draft: str | None = None):
        transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bar on every start
        engine = LLMEngine.from_pretrained(resolve(model), device=device, seed=seed, max_rows=max_rows,
                                           draft=resolve(draft) if draft else None)
        self.name = model
        self.engine = AsyncEngine(engine)
        self.tokenizer = engine.tokenizer
        self.context = engine.context
        self.usage = TokenUsage()

    def encode(self, prompt: Prompt) -> list[int]:
        """Token ids of a text prompt, or of chat messages rendered with the model's chat template."""
        return self.engine.engine.encode(prompt_text(self.tokenizer, prompt))

    async def generate(self, prompt: Prompt, params: SamplingParams) -> Generation:
        ids = self.encode(prompt)
        samples = await self.engine.generate(ids, params)
        usage = TokenUsage(prompt=len(ids), generated=sum(len(s.token_ids) for s in samples))  # prompt: once
        self.usage.add(usage)
        return Generation([Sample(s.text, s.finish_reason, len(s.token_ids), s.logprob) for s in samples], usage)

    def close(self) -> None:
        self.engine.close()
