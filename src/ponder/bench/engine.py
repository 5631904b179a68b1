"""`ponder bench engine`: ponder's engine against `transformers` `generate`, same model, same prompts, one run.

Cases (issue #3): (a) n=64 x 128 new tokens from a short prompt; (b) the same from a long few-shot prompt;
(c) 16 concurrent requests, n=4 each; (d) speculative decoding on against off, one sample, greedy and T=0.7.
Each side of each case runs in a fresh process, so its peak memory (resident set) is its own; both sides
warm up first, then report the median of up to three timed runs. Cases (a)-(c) generate exactly 128 tokens per sample (EOS ignored on both sides) so the work is
equal; case (d) answers real arith problems and stops at EOS, since acceptance depends on real text.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import resource
import time

NEW_TOKENS = 128
REPEATS, LONG_S = 3, 20.0  # timed runs per side: the median of up to 3, no more once 20 s are spent


def _prompts(tokenizer, kind: str, count: int = 1, long_tokens: int = 600) -> list[str]:
    from ponder.tasks import arith

    problems = arith.problems(7, count)
    if kind == "short":
        return [tokenizer.apply_chat_template(p.messages(), add_generation_prompt=True, tokenize=False)
                for p in problems]
    shots, i = [], 0  # few-shot: solved training problems as earlier turns, until the prompt is long enough
    while True:
        train = arith.problem("train", 7, i)
        shots += [{"role": "user", "content": train.question}, {"role": "assistant", "content": train.solution}]
        i += 1
        text = tokenizer.apply_chat_template(shots + problems[0].messages(), add_generation_prompt=True,
                                             tokenize=False)
        if len(tokenizer.encode(text, add_special_tokens=False)) >= long_tokens:
            return [text]


def _side(case: str, side: str, model: str, draft: str, device: str, threads: int | None) -> dict:
    """One side of one case, in its own process: tokens generated, seconds, peak resident memory."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ponder.engine import LLMEngine, SamplingParams
    from ponder.engine.speculative import SpeculationStats
    from ponder.models import resolve

    if threads:
        torch.set_num_threads(threads)
    transformers.utils.logging.disable_progress_bar()
    path = resolve(model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    target = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).to(device).eval()
    # the long prompt needs more positions than the model was trained on: speed, not quality, is measured
    target.config.max_position_embeddings = max(target.config.max_position_embeddings, 1024)
    parameters = sum(p.numel() for p in target.parameters())
    stats = {}

    if case in ("short", "long", "concurrent"):
        n, prompts = (4, _prompts(tokenizer, "short", 16)) if case == "concurrent" else (64, _prompts(tokenizer, case))
        if side == "ponder":
            engine = LLMEngine(target, tokenizer, seed=0)
            params = SamplingParams(n=n, temperature=0.7, max_tokens=NEW_TOKENS, ignore_eos=True)
            def work():
                return sum(len(s.token_ids) for out in engine.generate(prompts, params) for s in out.samples)
        else:
            def work():
                total = 0
                for text in prompts:  # `generate` takes one prompt's n samples per call
                    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt").to(device)
                    with torch.inference_mode():
                        out = target.generate(**ids, do_sample=True, temperature=0.7, top_k=None, top_p=None,
                                              num_return_sequences=n, max_new_tokens=NEW_TOKENS,
                                              min_new_tokens=NEW_TOKENS, pad_token_id=tokenizer.pad_token_id)
                    total += (out.shape[1] - ids["input_ids"].shape[1]) * n
                return total
    else:  # speculative-greedy | speculative-sampled: ponder with the draft ("ponder") against without ("off")
        temperature = 0.0 if case == "speculative-greedy" else 0.7
        draft_model = None
        if side == "ponder":
            draft_model = AutoModelForCausalLM.from_pretrained(resolve(draft), dtype=torch.float32).to(device).eval()
        engine = LLMEngine(target, tokenizer, seed=0, draft=draft_model, prefix_cache_bytes=0)
        prompts = _prompts(tokenizer, "short", 24)
        def work():
            total = 0
            for i, text in enumerate(prompts):  # one sample at a time: the latency-bound case
                [out] = engine.generate([text], SamplingParams(temperature=temperature, seed=i, max_tokens=NEW_TOKENS))
                total += len(out.samples[0].token_ids)
            return total

    work()  # warm-up: first-call allocations and kernel selection
    if side == "ponder" and case.startswith("speculative"):
        engine.speculator.stats = SpeculationStats()  # count the timed runs only
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    runs = []  # (seconds, tokens): up to REPEATS timed runs, fewer when one is long; the median is reported
    while len(runs) < REPEATS and sum(r[0] for r in runs) < LONG_S:
        start = time.perf_counter()
        tokens = work()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        runs.append((time.perf_counter() - start, tokens))
    seconds, tokens = sorted(runs, key=lambda r: r[1] / r[0])[len(runs) // 2]
    if side == "ponder" and case.startswith("speculative"):
        stats = {"acceptance_rate": round(engine.speculator.stats.acceptance_rate, 4),
                 "proposed": engine.speculator.stats.proposed, "accepted": engine.speculator.stats.accepted}
    peak = (torch.cuda.max_memory_allocated() if device.startswith("cuda")
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"tokens": tokens, "seconds": round(seconds, 3), "tokens_per_s": round(tokens / seconds, 1), "runs": len(runs),
            "peak_memory_mb": round(peak / 2**20, 1), "gflops": round(2 * parameters * tokens / seconds / 1e9, 2),
            "parameters": parameters, **stats}


CASES = {  # name: (the peer's side, what the ratio is called)
    "short": ("generate", "speedup_short_prompt"),
    "long": ("generate", "speedup_long_prompt"),
    "concurrent": ("generate", "speedup_concurrent"),
    "speculative-greedy": ("off", "speedup_speculative_greedy"),
    "speculative-sampled": ("off", "speedup_speculative_sampled"),
}


def run(model: str = "ponder-arith", draft: str = "ponder-arith-draft", device: str = "cpu",
        threads: int | None = None, cases: list[str] | None = None, progress=None) -> dict:
    """Every case, both sides; returns the figures and the ratios (ponder's tokens/s over the peer's)."""
    cases = cases or list(CASES)
    results: dict = {"model": model, "draft": draft, "device": device, "new_tokens": NEW_TOKENS, "cases": {}}
    context = multiprocessing.get_context("spawn")
    for case in cases:
        peer, ratio = CASES[case]
        figures = {}
        for side in ("ponder", peer):
            if progress:
                progress(f"{case}: {side}")
            with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
                figures[side] = pool.submit(_side, case, side, model, draft, device, threads).result()
        figures["speedup"] = round(figures["ponder"]["tokens_per_s"] / figures[peer]["tokens_per_s"], 3)
        results["cases"][case] = figures
        results[ratio] = figures["speedup"]
    if "short" in results["cases"]:
        results["tokens_per_s"] = results["cases"]["short"]["ponder"]["tokens_per_s"]
        results["gflops"] = results["cases"]["short"]["ponder"]["gflops"]
    spec = [results["cases"][c] for c in ("speculative-greedy", "speculative-sampled") if c in results["cases"]]
    if spec:
        results["speedup_speculative"] = min(s["speedup"] for s in spec)  # the less favourable of the two
        accepted, proposed = sum(s["ponder"]["accepted"] for s in spec), sum(s["ponder"]["proposed"] for s in spec)
        results["acceptance_rate"] = round(accepted / proposed, 4) if proposed else 0.0
    return results
