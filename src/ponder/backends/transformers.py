"""A Generator over `transformers` `generate`, batching concurrent requests into one call.

Requests that arrive while a batch runs wait for the next one; requests with the same sampling settings are
gathered, n rows each, up to `max_batch` rows per call. Every row recomputes its prompt (that is what a generic
`generate` does, and what the local engine avoids), and the batch runs until its longest row is done.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer, StoppingCriteria

from ponder.backends.base import Generation, Prompt, Sample, SamplingParams, TokenUsage, prompt_text
from ponder.errors import InvalidArgumentError, ModelNotFoundError
from ponder.models import DEFAULT_MODEL, resolve


@dataclass
class _Request:
    prompt_ids: list[int]
    params: SamplingParams
    future: asyncio.Future


class TransformersGenerator:
    """Sample from any Hugging Face causal LM through `model.generate`.

    Args:
        model: a shipped model's name or a Hugging Face model folder.
        device: torch device to run on.
        seed: seeds each batched call (with its index), so a run that submits the same requests in the same
            order gets the same samples.
        max_batch: the most rows (sequences) in one `generate` call.

    Example:
        >>> gen = TransformersGenerator("ponder-arith")
        >>> out = asyncio.run(gen.generate([{"role": "user", "content": "Mia has 3 pens. ..."}], SamplingParams(n=4)))
    """

    def __init__(self, model: str = DEFAULT_MODEL, *, device: str = "cpu", seed: int = 0, max_batch: int = 512):
        path = resolve(model)
        transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bar on every start
        self.name = model
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            self.model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).to(device).eval()
        except (OSError, ValueError) as error:  # missing or malformed files, or not a causal LM
            raise ModelNotFoundError(f"cannot load model {model!r} from {str(path)!r}: {error}") from error
        self.device = device
        self.seed = seed
        self.max_batch = max_batch
        self.context = self.model.config.max_position_embeddings
        self.usage = TokenUsage()
        self._queue: list[_Request] = []
        self._worker: asyncio.Task | None = None
        self._calls = 0

    def encode(self, prompt: Prompt) -> list[int]:
        """Token ids of a text prompt, or of chat messages rendered with the model's chat template."""
        ids = self.tokenizer.encode(prompt_text(self.tokenizer, prompt), add_special_tokens=False)
        if len(ids) >= self.context:
            raise InvalidArgumentError(f"prompt has {len(ids)} tokens; the model's context is {self.context}")
        return ids

    async def generate(self, prompt: Prompt, params: SamplingParams) -> Generation:
        request = _Request(self.encode(prompt), params, asyncio.get_running_loop().create_future())
        self._queue.append(request)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await request.future

    async def _drain(self) -> None:
        while self._queue:
            await asyncio.sleep(0)  # let requests submitted in the same tick join this batch
            self._queue.sort(key=lambda r: len(r.prompt_ids))  # similar lengths together: less padding
            params, batch, rest, rows = self._queue[0].params, [], [], 0
            for request in self._queue:
                if request.params == params and (rows + request.params.n <= self.max_batch or not batch):
                    batch.append(request)
                    rows += request.params.n
                else:
                    rest.append(request)
            self._queue = rest
            try:
                generations = await asyncio.to_thread(self._generate_batch, batch, params)
            except Exception as error:  # this batch failed: each of its requests gets the error
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(error)
                continue
            for request, generation in zip(batch, generations):
                self.usage.add(generation.usage)
                if not request.future.done():
                    request.future.set_result(generation)

    @torch.inference_mode()
    def _generate_batch(self, batch: list[_Request], params: SamplingParams) -> list[Generation]:
        prompts = [r.prompt_ids for r in batch for _ in range(r.params.n)]
        width = max(map(len, prompts))
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=self.device)
        attention_mask = (torch.arange(width) >= torch.tensor([[width - len(p)] for p in prompts])).long()
        sampled = params.temperature > 0
        torch.manual_seed(self.seed * 1_000_003 + self._calls)
        self._calls += 1
        out = self.model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask.to(self.device),
            do_sample=sampled,
            temperature=params.temperature if sampled else None,
            top_p=params.top_p if sampled else None,
            top_k=params.top_k if sampled else None,
            max_new_tokens=min(params.max_tokens, self.context - width),
            stopping_criteria=[_StopOnText(self.tokenizer, params.stop, width)] if params.stop else None,
            eos_token_id=self.tokenizer.eos_token_id,
            pad_token_id=pad,
            return_dict_in_generate=True,
            output_logits=True,
        )
        new = out.sequences[:, width:].cpu()
        logprobs = torch.log_softmax(torch.stack(out.logits, 1).float().cpu(), -1)
        logprobs = logprobs.gather(-1, new.unsqueeze(-1)).squeeze(-1)

        samples = []
        eos = self.tokenizer.eos_token_id
        for row, tokens in enumerate(new.tolist()):
            # a finished row is padded to the batch's length: its tokens end at EOS (counted) or at the padding
            length = tokens.index(eos) + 1 if eos in tokens else tokens.index(pad) if pad in tokens else len(tokens)
            text = self.tokenizer.decode(tokens[:length], skip_special_tokens=True)
            cut = min((i for i in (text.find(stop) for stop in params.stop) if i >= 0), default=-1)
            if cut >= 0:  # OpenAI semantics: the stop string ends the text and is not part of it
                text = text[:cut]
            reason = "stop" if cut >= 0 or eos in tokens[:length] else "length"
            samples.append(Sample(text, reason, length, round(logprobs[row, :length].sum().item(), 4)))

        generations, start = [], 0
        for request in batch:
            rows = samples[start:start + request.params.n]
            start += request.params.n
            usage = TokenUsage(prompt=len(request.prompt_ids) * request.params.n, generated=sum(s.tokens for s in rows))
            generations.append(Generation(rows, usage))
        return generations


class _StopOnText(StoppingCriteria):
    """Stops a row once its decoded text contains a stop string (so it works across token boundaries and with
    byte-fallback tokens, which `generate`'s own stop_strings does not see through)."""

    def __init__(self, tokenizer, stops: tuple[str, ...], prompt_width: int):
        self.tokenizer, self.stops, self.width = tokenizer, stops, prompt_width

    def __call__(self, input_ids: torch.Tensor, scores, **kwargs) -> torch.Tensor:
        texts = self.tokenizer.batch_decode(input_ids[:, self.width:], skip_special_tokens=True)
        return torch.tensor([any(stop in text for stop in self.stops) for text in texts], device=input_ids.device)
