"""LLMEngine: the step loop over scheduler, runner and sampler, and a synchronous `generate` for scripts.

    plan = scheduler.schedule()          # which samples make up the batch
    logits = runner.run(plan)            # their KV rows updated, one decode pass
    tokens, logprobs = sampler(logits, plan.rows)
    tokens = thinking.apply(seq, tokens) # a thinking budget, "Wait" or recovery: the engine's token instead
    events = self.postprocess(...)       # append, detokenize, stop, emit

With a draft model the middle two beats are one speculative step (speculative.py): each row gains 1 to k+1
tokens.

Not thread-safe: AsyncEngine (async_engine.py) drives it from one worker thread.
"""

from __future__ import annotations

import itertools
import os
import random
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ponder.engine.detokenizer import Detokenizer
from ponder.engine.prefix_cache import PrefixCache
from ponder.engine.request import Request, Sequence
from ponder.engine.runner import ModelRunner
from ponder.engine.sampler import Sampler
from ponder.engine.scheduler import Scheduler
from ponder.engine.speculative import Speculator
from ponder.engine.thinking import ThinkingControl
from ponder.errors import InvalidArgumentError, ModelNotFoundError
from ponder.models import check_causal_lm
from ponder.reasoning import ReasoningMarkers, markers_of
from ponder.sampling import SampleEvent, SamplingParams, find_stop, held_back
from ponder.seeds import derive_seed

# chunked prefill's default: prompt tokens computed per step while rows decode. A step that computes 128 of them
# beside 64 decoding rows of the embedded model took ~1.7x a plain step, 256 ~2.5x (docs/benchmarks.md)
PREFILL_CHUNK = 128


@dataclass
class SampleOutput:
    """A finished sample, as `LLMEngine.generate` returns it."""

    index: int
    token_ids: list[int]
    text: str
    finish_reason: str
    logprob: float  # summed over its tokens, under the model's own distribution


@dataclass
class RequestOutput:
    request_id: int
    prompt_tokens: int
    samples: list[SampleOutput] = field(default_factory=list)


class LLMEngine:
    """A batched sampler over any Hugging Face causal LM, built for many samples of few prompts.

    Args:
        model: a loaded causal LM (`AutoModelForCausalLM`), in eval mode on its device.
        tokenizer: its tokenizer.
        max_rows: the most samples decoded in one batch; the samples of a larger request join in waves.
        kv_cache_bytes: the most memory the batch's KV may take (None: a quarter of the device's memory, see
            `default_kv_cache_bytes`); rows join only while their longest possible KV fits.
        prefix_cache_bytes: memory for the prefix cache (0 turns it off).
        seed: seeds the samples of requests that bring no seed of their own.
        draft: a smaller causal LM with the same vocabulary, for speculative decoding (None: off).
        num_speculative_tokens: tokens the draft proposes per step.
        reasoning_markers: a thinking model's markers (None: the tokenizer's, `<think>`/`</think>` where it has
            them); the thinking control of SamplingParams acts on them (engine/thinking.py).
        prefill_chunk: while rows decode, the most prompt tokens computed per step (chunked prefill: a long
            prompt joining a running batch is computed a chunk a step, so the decoding rows keep emitting; with no
            row decoding a prompt is computed whole). None: every prompt whole, at once.
        lean: run the Llama family's forward pass through ponder's own (engine/lean.py) rather than
            transformers' modules; other architectures use transformers' either way.

    Example:
        >>> engine = LLMEngine.from_pretrained("src/ponder/models/ponder-arith")
        >>> [out] = engine.generate(["<s><|user|>Mia has 3 pens. She buys 2 more. How many pens does she have now?"
        ...                          "<|assistant|>"], SamplingParams(n=8, temperature=0.7))
        >>> len(out.samples)
        8
    """

    def __init__(self, model, tokenizer, *, max_rows: int = 256, kv_cache_bytes: int | None = None,
                 prefix_cache_bytes: int = 256 << 20, seed: int = 0, draft=None, num_speculative_tokens: int = 4,
                 reasoning_markers: ReasoningMarkers | None = None, lean: bool = True,
                 prefill_chunk: int | None = PREFILL_CHUNK):
        if not getattr(model, "can_generate", lambda: False)():
            raise InvalidArgumentError(f"{type(model).__name__} is not a causal language model")
        self.model = model
        self.tokenizer = tokenizer
        self.context = getattr(model.config.get_text_config(), "max_position_embeddings", None) or 1 << 30
        self.vocab = model.get_output_embeddings().weight.shape[0]  # logits per row (may exceed the tokenizer's)
        self.eos = set(_as_list(model.generation_config.eos_token_id or tokenizer.eos_token_id))
        self.prefix_cache = PrefixCache(prefix_cache_bytes)
        self.runner = ModelRunner(model, self.prefix_cache, lean)
        self.sampler = Sampler(self.eos)
        self.thinking = ThinkingControl(tokenizer, reasoning_markers or markers_of(tokenizer))
        self.speculator = Speculator(draft, model, num_speculative_tokens, lean=lean) if draft is not None else None
        # the KV memory bound, in token columns: each column of a row costs its KV in every layer (the draft's too)
        per_token = self.runner.kv_bytes_per_token + (self.speculator.draft.kv_bytes_per_token if draft else 0)
        if kv_cache_bytes is None:
            kv_cache_bytes = default_kv_cache_bytes(self.runner.device)
        if kv_cache_bytes < per_token:
            raise InvalidArgumentError(f"kv_cache_bytes={kv_cache_bytes} is less than one token's KV "
                                       f"({per_token} bytes)")
        self.scheduler = Scheduler(max_rows, kv_cache_bytes // per_token)
        if prefill_chunk is not None and prefill_chunk < 1:
            raise InvalidArgumentError(f"prefill_chunk={prefill_chunk} must be >= 1 (or None: whole prompts)")
        self.prefill_chunk = prefill_chunk
        self.prefilling: deque[Request] = deque()  # requests whose prompts are being computed a chunk a step
        self.rng = random.Random(seed)
        self.samples_aborted = 0
        self.tokens_generated = 0  # every token sampled, for samples later aborted too
        self.detokenizers: dict[int, Detokenizer] = {}
        self._ids = itertools.count()
        self.steps = 0

    @classmethod
    def from_pretrained(cls, path: str | Path, *, device: str = "cpu", dtype: torch.dtype = torch.float32,
                        draft: str | Path | None = None, **kwargs) -> LLMEngine:
        """Load a Hugging Face model folder (and a draft model's folder) onto `device`."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        def load(folder):
            check_causal_lm(folder)  # a reward model's folder would load as a causal LM with a random head
            try:
                return AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to(device).eval()
            except (OSError, ValueError) as error:  # missing or malformed files, or a model that is no causal LM
                raise ModelNotFoundError(f"cannot load a causal LM from {str(folder)!r}: {error}") from error
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
        except (OSError, ValueError) as error:
            raise ModelNotFoundError(f"cannot load a tokenizer from {str(path)!r}: {error}") from error
        return cls(load(path), tokenizer, draft=load(draft) if draft is not None else None, **kwargs)

    # -- requests ---------------------------------------------------------------------------------------------

    def encode(self, prompt: str | list[int]) -> list[int]:
        ids = self.tokenizer.encode(prompt, add_special_tokens=False) if isinstance(prompt, str) else list(prompt)
        if not ids:
            raise InvalidArgumentError("the prompt is empty")
        if len(ids) >= self.context:
            raise InvalidArgumentError(f"the prompt has {len(ids)} tokens; the model's context is {self.context}")
        return ids

    def add_request(self, prompt: str | list[int], params: SamplingParams) -> int:
        """Queue a prompt for `params.n` samples; returns the request id. Its prompt is computed once."""
        ids = self.encode(prompt)
        self.thinking.check(params)
        params.check_vocabulary(self.vocab)
        # a sample ends at the model's context at the latest, so that is the most KV one of its rows can need
        max_length = min(len(ids) + params.max_tokens, self.context)
        request = Request(next(self._ids), ids, params, self._seeds(params), max_length)
        chunked = self.prefill_chunk is not None and len(ids) - 1 > self.prefill_chunk
        self.scheduler.add(request, ready=not chunked)
        if chunked:
            self.prefilling.append(request)
        return request.request_id

    def abort(self, request_id: int, index: int | None = None) -> list[SampleEvent]:
        """Stop a request (or one of its samples): its rows leave the batch at the next step. Returns a last
        event for each sample it stopped."""
        events = []
        for seq in self.scheduler.abort(request_id, index):
            self.samples_aborted += 1
            self.detokenizers.pop(seq.seq_id, None)
            events.append(SampleEvent(request_id, seq.index, [], "", [], finish_reason="abort",
                                      prompt_tokens=len(seq.request.prompt_ids), generated_tokens=seq.generated))
        return events

    def has_unfinished(self) -> bool:
        return self.scheduler.has_work or bool(self.prefilling)

    @property
    def waiting_rows(self) -> int:
        """Samples that have not joined the batch yet: queued, or of a prompt still computed in chunks. Safe to
        read from another thread (it iterates copies)."""
        return self.scheduler.waiting_rows + sum(r.unadmitted for r in list(self.prefilling))

    def prefill_some(self) -> None:
        """Chunked prefill: compute the waiting long prompts, first come first served, at most `prefill_chunk`
        tokens this step while rows decode (all of them when none does); a prompt that is done queues its
        request for rows."""
        budget = self.prefill_chunk if self.scheduler.decoding else None
        while self.prefilling and (budget is None or budget > 0):
            request = self.prefilling[0]
            if request.finished:  # every sample aborted while its prompt was computed
                self.prefilling.popleft()
                self.runner.partial.pop(request.request_id, None)
                self.scheduler.forget(request)
                continue
            used, done = self.runner.prefill_part(request.request_id, request.prompt_ids[:-1], budget)
            if budget is not None:
                budget -= used
            if done:
                self.prefilling.popleft()
                self.scheduler.ready(request)

    # -- the step loop ----------------------------------------------------------------------------------------

    @torch.inference_mode()
    def step(self) -> list[SampleEvent]:
        """Run one decode step for every running sample; returns what each did."""
        if self.prefilling:
            self.prefill_some()
        plan = self.scheduler.schedule()
        for join in plan.joining:  # made as a sample joins, so the samples that wait hold nothing
            for seq in join.seqs:
                self.detokenizers[seq.seq_id] = Detokenizer(self.tokenizer, join.request.prompt_ids)
                self.thinking.begin(seq)
        self.sampler.release(plan.left)
        if self.speculator is not None:
            self.speculator.release(plan.left)
        if not plan.rows:  # every row has left: free their KV
            self.runner.apply(plan)
            if self.speculator is not None:
                self.speculator.draft.apply(plan)
            return []
        if self.speculator is not None:
            tokens, logprobs = self.speculator.step(plan, self.runner, self.sampler, self.context, self.thinking.apply)
        else:
            logits = self.runner.run(plan)
            next_tokens, logprobs = self.sampler(logits, plan.rows)
            tokens = [self.thinking.apply(seq, [t]) for seq, t in zip(plan.rows, next_tokens.tolist())]
            logprobs = logprobs.unsqueeze(1)
        self.steps += 1
        events = self.postprocess(plan.rows, tokens, logprobs)
        if not self.scheduler.has_work:  # all done: free the rows now rather than at the next step
            self.step()
        return events

    def postprocess(self, rows: list[Sequence], tokens: list[list[int]], logprobs: torch.Tensor) -> list[SampleEvent]:
        """Append each row's new tokens (logprobs [rows, positions, vocab] holds the model's distribution at
        each), and finish the samples that hit EOS, their token limit or a stop string (and, where a request's
        first `keep_first` samples have ended, abort the rest)."""
        width = max(map(len, tokens))
        index = torch.tensor([t + [t[-1]] * (width - len(t)) for t in tokens], device=logprobs.device)
        chosen = logprobs[:, :width].gather(2, index.unsqueeze(2)).squeeze(2).tolist()
        want_top = max(s.params.logprobs for s in rows)
        top = logprobs[:, :width].topk(want_top, dim=-1) if want_top else None
        events, decided = [], []
        for i, seq in enumerate(rows):
            params = seq.params
            new = []
            reasoning, closed = seq.reasoning, False
            for token in tokens[i]:
                new.append(token)
                thinking = seq.thinking
                seq.thinking, seq.reasoning = self.thinking.after(seq.thinking, seq.reasoning, token)
                closed = closed or thinking and not seq.thinking
                if token in self.eos and not params.ignore_eos or token in params.stop_token_ids:
                    seq.finish_reason = "stop"
                elif seq.generated + len(new) >= params.max_tokens or seq.num_tokens + len(new) >= self.context:
                    seq.finish_reason = "length"
                if seq.finished:
                    break
            seq.token_ids += new
            self.tokens_generated += len(new)
            seq.logprob_sum += sum(chosen[i][:len(new)])
            before = len(seq.text)
            # a stop token id ends the sample out of its text (vLLM's), as the end of sequence does
            stop_token = seq.finished and new[-1] in params.stop_token_ids
            seq.text += self.detokenizers[seq.seq_id].add(new[:-1] if stop_token else new, final=seq.finished)
            stop_string = None
            if params.stop and seq.generated >= params.min_tokens and not (
                    seq.finished and (new[-1] in self.eos or stop_token)):
                found = find_stop(seq.text, params.stop, start=max(before - max(map(len, params.stop)) + 1, 0))
                if found:  # OpenAI semantics: the stop string ends the text and is not part of it
                    cut, stop_string = found
                    seq.text = seq.text[:cut]
                    seq.finish_reason = "stop"
            # text that may begin a stop string waits for the next step (sent, it could not be taken back)
            ready = len(seq.text) if seq.finished else len(seq.text) - held_back(seq.text, params.stop)
            delta, seq.sent = seq.text[seq.sent:ready], max(seq.sent, ready)
            step_end = bool(params.step_delimiter) and params.step_delimiter in seq.text[
                max(before - len(params.step_delimiter) + 1, 0):]
            top_logprobs = None
            if params.logprobs:
                top_logprobs = [dict(zip(top.indices[i, j, :params.logprobs].tolist(),
                                         top.values[i, j, :params.logprobs].tolist())) for j in range(len(new))]
            events.append(SampleEvent(seq.request.request_id, seq.index, new, delta, chosen[i][:len(new)],
                                      top_logprobs, step_end, seq.finish_reason, len(seq.request.prompt_ids),
                                      seq.generated, stop_string, seq.reasoning - reasoning))
            if seq.finished:
                self.detokenizers.pop(seq.seq_id, None)
            request = seq.request
            if params.keep_first and not seq.ended and request.ended < params.keep_first and (
                    closed or seq.finish_reason == "stop" and not seq.thinking and not seq.reasoning):
                seq.ended, request.ended = True, request.ended + 1
                if request.ended == params.keep_first:
                    decided.append(request)
        for request in decided:  # the race is decided: the rest stop in this step, not at a later abort
            for seq in request.seqs:
                if not seq.ended:
                    events += self.abort(request.request_id, seq.index)
        return events

    def generate(self, prompts: list[str | list[int]], params: SamplingParams) -> list[RequestOutput]:
        """Sample every prompt to the end; the outputs come back in the order of `prompts`."""
        ids = [self.add_request(p, params) for p in prompts]
        outputs = {i: RequestOutput(i, len(self.scheduler.requests[i].prompt_ids)) for i in ids}
        seqs = {i: self.scheduler.requests[i].seqs for i in ids}
        while self.has_unfinished():
            self.step()
        for i in ids:
            outputs[i].samples = [SampleOutput(s.index, s.token_ids, s.text, s.finish_reason, round(s.logprob_sum, 4))
                                  for s in seqs[i]]
        return [outputs[i] for i in ids]

    # -- scoring ----------------------------------------------------------------------------------------------

    @torch.inference_mode()
    def score(self, prompt: str | list[int], continuation: str | list[int]) -> list[float]:
        """The logprob of each token of `continuation` after `prompt`, without generating."""
        prompt_ids = self.encode(prompt)
        cont = self.encode(continuation)
        if len(prompt_ids) + len(cont) > self.context:
            raise InvalidArgumentError(f"prompt and continuation have {len(prompt_ids) + len(cont)} tokens; "
                                       f"the model's context is {self.context}")
        _, logits = self.runner.extend(self.runner.prefill(prompt_ids[:-1]), prompt_ids[-1:] + cont[:-1])
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        return logprobs.gather(1, torch.tensor(cont, device=logprobs.device).unsqueeze(1)).squeeze(1).tolist()

    # -- internals --------------------------------------------------------------------------------------------

    def _seeds(self, params: SamplingParams) -> list[int]:
        base = params.seed if params.seed is not None else self.rng.getrandbits(62)
        return [derive_seed(base, i) for i in range(params.n)]  # one per sample: its own random stream


def default_kv_cache_bytes(device: torch.device) -> int:
    """A quarter of the device's memory: the GPU's free memory (the model is loaded by then), or the machine's
    physical memory. A quarter because a batch that is rebuilt (kv_cache.py) holds its KV twice for a moment,
    its storage has spare columns past the bound, and the weights, activations and other processes need the
    rest; past it, requests wait for rows instead of the process being killed for memory."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free // 4
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4


def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple, set)) else [x]
