"""`ponder bench engine`: ponder's engine against `transformers` `generate`, same model, same prompts, one run.

Cases (issue #3): (a) n=64 x 128 new tokens from a short prompt; (b) the same from a long few-shot prompt;
(c) 16 concurrent requests, n=4 each; (d) speculative decoding on against off, one sample, greedy and T=0.7.
In cases (a)-(c) each side runs in a fresh process, so its peak memory (resident set) is its own; both sides
warm up first, then report the median of up to three timed runs; they generate exactly 128 tokens per sample
(EOS ignored on both sides) so the work is equal. Case (d) answers real arith problems and stops at EOS, since
acceptance depends on real text; its two sides are one engine with the draft and one without over the same
target weights, in one process, timed in alternation (on, off, off, on, on, off), because this machine's speed
drifts by tens of percent between runs and alternation cancels the drift; its ratio is the median of the
per-round ratios, and its peak memory is that process's (both sides).

The same run measures the machine's fp32 matrix-multiply peak (`peak_gflops`: the best of repeated 1024 x 1024
products, in a fresh process with the same threads) and reports the n=64 case's achieved GFLOP/s (2 x parameters
x tokens / seconds) as a fraction of it (`peak_fraction`): how near the machine's limit a decode step runs.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import resource
import time

from ponder.bench import join

NEW_TOKENS = 128
REPEATS, LONG_S = 3, 20.0  # timed runs per side: the median of up to 3, no more once 20 s are spent


def _prompts(tokenizer, kind: str, count: int = 1, long_tokens: int = 600) -> list[str]:
    from ponder.tasks import arith

    problems = arith.problems(7, count)
    if kind == "short":
        return [tokenizer.apply_chat_template(p.prompt(), add_generation_prompt=True, tokenize=False)
                for p in problems]
    shots, i = [], 0  # few-shot: solved training problems as earlier turns, until the prompt is long enough
    while True:
        train = arith.problem("train", 7, i)
        shots += [{"role": "user", "content": train.question}, {"role": "assistant", "content": train.solution}]
        i += 1
        text = tokenizer.apply_chat_template(shots + problems[0].prompt(), add_generation_prompt=True,
                                             tokenize=False)
        if len(tokenizer.encode(text, add_special_tokens=False)) >= long_tokens:
            return [text]


def _sync(device: str):
    """What waits for `device`'s queued work before a clock is read: nothing on a CPU."""
    import torch

    return torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)


def _load(model: str, device: str, threads: int | None, positions: int):
    """(tokenizer, model in f32 on `device`) for one side's process, with room for `positions` tokens (a long
    prompt needs more than the model was trained on: speed, not quality, is measured)."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ponder.models import resolve

    if threads:
        torch.set_num_threads(threads)
    transformers.utils.logging.disable_progress_bar()
    path = resolve(model)
    target = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).to(device).eval()
    target.config.max_position_embeddings = max(target.config.max_position_embeddings, positions)
    return AutoTokenizer.from_pretrained(path), target


def _side(case: str, side: str, model: str, device: str, threads: int | None) -> dict:
    """One side of one case, in its own process: tokens generated, seconds, peak resident memory."""
    import torch

    from ponder.engine import LLMEngine, SamplingParams

    tokenizer, target = _load(model, device, threads, positions=1024)
    parameters = sum(p.numel() for p in target.parameters())

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
    else:
        raise ValueError(case)
    work()  # warm-up: first-call allocations and kernel selection
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    runs = []  # (seconds, tokens): up to REPEATS timed runs, fewer when one is long; the median is reported
    while len(runs) < REPEATS and sum(r[0] for r in runs) < LONG_S:
        start = time.perf_counter()
        tokens = work()
        _sync(device)()
        runs.append((time.perf_counter() - start, tokens))
    seconds, tokens = sorted(runs, key=lambda r: r[1] / r[0])[len(runs) // 2]
    peak = (torch.cuda.max_memory_allocated() if device.startswith("cuda")
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"tokens": tokens, "seconds": round(seconds, 3), "tokens_per_s": round(tokens / seconds, 1), "runs": len(runs),
            "peak_memory_mb": round(peak / 2**20, 1), "gflops": round(2 * parameters * tokens / seconds / 1e9, 2),
            "parameters": parameters}


def _speculative(case: str, model: str, draft: str, device: str, threads: int | None) -> dict:
    """Case (d) in one process: the engine with the draft ("ponder") against the engine without ("off"), timed
    in alternation; one sample at a time (the latency-bound case) over 24 arith problems."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ponder.engine import LLMEngine, SamplingParams
    from ponder.engine.speculative import SpeculationStats
    from ponder.models import resolve

    if threads:
        torch.set_num_threads(threads)
    transformers.utils.logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(resolve(model))
    load = lambda name: AutoModelForCausalLM.from_pretrained(resolve(name), dtype=torch.float32).to(device).eval()
    target = load(model)
    engines = {"ponder": LLMEngine(target, tokenizer, seed=0, draft=load(draft), prefix_cache_bytes=0),
               "off": LLMEngine(target, tokenizer, seed=0, prefix_cache_bytes=0)}
    temperature = 0.0 if case == "speculative-greedy" else 0.7
    prompts = _prompts(tokenizer, "short", 24)

    def work(engine) -> int:
        total = 0
        for i, text in enumerate(prompts):
            [out] = engine.generate([text], SamplingParams(temperature=temperature, seed=i, max_tokens=NEW_TOKENS))
            total += len(out.samples[0].token_ids)
        return total

    for engine in engines.values():
        work(engine)  # warm-up
    engines["ponder"].speculator.stats = SpeculationStats()  # count the timed runs only
    runs: dict[str, list[tuple[float, int]]] = {"ponder": [], "off": []}
    for order in (("ponder", "off"), ("off", "ponder"), ("ponder", "off")):
        for side in order:
            _sync(device)()
            start = time.perf_counter()
            tokens = work(engines[side])
            _sync(device)()
            runs[side].append((time.perf_counter() - start, tokens))
    peak = (torch.cuda.max_memory_allocated() if device.startswith("cuda")
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    parameters = sum(p.numel() for p in target.parameters())
    figures = {}
    for side, timed in runs.items():
        seconds, tokens = sorted(timed, key=lambda r: r[1] / r[0])[len(timed) // 2]
        figures[side] = {"tokens": tokens, "seconds": round(seconds, 3), "tokens_per_s": round(tokens / seconds, 1),
                         "runs": len(timed), "peak_memory_mb": round(peak / 2**20, 1),
                         "gflops": round(2 * parameters * tokens / seconds / 1e9, 2), "parameters": parameters}
    stats = engines["ponder"].speculator.stats
    figures["ponder"].update(acceptance_rate=round(stats.acceptance_rate, 4), proposed=stats.proposed,
                             accepted=stats.accepted,
                             tokens_per_step=round(sum(t for _, t in runs["ponder"]) / max(stats.steps, 1), 2))
    ratios = sorted((p[1] / p[0]) / (o[1] / o[0]) for p, o in zip(runs["ponder"], runs["off"]))
    figures["speedup"] = round(ratios[len(ratios) // 2], 3)
    return figures


def _matmul_peak(device: str, threads: int | None, size: int = 1024, seconds: float = 3.0) -> float:
    """The device's fp32 matmul throughput in GFLOP/s: the best of up to 20 rounds of 3 size x size products."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    a, b = (torch.randn(size, size, device=device) for _ in range(2))
    sync = _sync(device)
    best, spent = 0.0, 0.0
    for _ in range(20):
        sync()
        start = time.perf_counter()
        for _ in range(3):
            a @ b
        sync()
        elapsed = time.perf_counter() - start
        best, spent = max(best, 3 * 2 * size**3 / elapsed / 1e9), spent + elapsed
        if spent > seconds:
            break
    return round(best, 1)


CASES = {  # name: (the peer's side, what the ratio is called)
    "short": ("generate", "speedup_short_prompt"),
    "long": ("generate", "speedup_long_prompt"),
    "concurrent": ("generate", "speedup_concurrent"),
    "speculative-greedy": ("off", "speedup_speculative_greedy"),
    "speculative-sampled": ("off", "speedup_speculative_sampled"),
    "join": ("whole", "join_p99_over_p50"),  # bench/join.py: the decoding rows' gaps, not tokens per second
}


def run(model: str = "ponder-arith", draft: str = "ponder-arith-draft", device: str = "cpu",
        threads: int | None = None, cases: list[str] | None = None, progress=None) -> dict:
    """Every case, both sides; returns the figures and the ratios (ponder's tokens/s over the peer's)."""
    cases = cases or list(CASES)
    results: dict = {"model": model, "draft": draft, "device": device, "new_tokens": NEW_TOKENS, "cases": {}}
    context = multiprocessing.get_context("spawn")
    for case in cases:
        peer, ratio = CASES[case]
        if case == "join":
            if progress:
                progress("join: a long prompt joins 64 decoding rows, chunked and whole, alternating")
            with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
                results["cases"][case] = pool.submit(join.measure, model, device, threads).result()
            results[ratio] = results["cases"][case]["p99_over_p50"]
            continue
        if case.startswith("speculative"):
            if progress:
                progress(f"{case}: with and without the draft, alternating")
            with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
                figures = pool.submit(_speculative, case, model, draft, device, threads).result()
        else:
            figures = {}
            for side in ("ponder", peer):
                if progress:
                    progress(f"{case}: {side}")
                with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
                    figures[side] = pool.submit(_side, case, side, model, device, threads).result()
            figures["speedup"] = round(figures["ponder"]["tokens_per_s"] / figures[peer]["tokens_per_s"], 3)
        results["cases"][case] = figures
        results[ratio] = figures["speedup"]
    if "short" in results["cases"]:
        results["tokens_per_s"] = results["cases"]["short"]["ponder"]["tokens_per_s"]
        results["gflops"] = results["cases"]["short"]["ponder"]["gflops"]
        if progress:
            progress("the machine's fp32 matmul peak")
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
            results["peak_gflops"] = pool.submit(_matmul_peak, device, threads).result()
        results["peak_fraction"] = round(results["gflops"] / results["peak_gflops"], 4)
    spec = [results["cases"][c] for c in ("speculative-greedy", "speculative-sampled") if c in results["cases"]]
    if spec:
        results["speedup_speculative"] = min(s["speedup"] for s in spec)  # the less favourable of the two
        accepted, proposed = sum(s["ponder"]["accepted"] for s in spec), sum(s["ponder"]["proposed"] for s in spec)
        results["acceptance_rate"] = round(accepted / proposed, 4) if proposed else 0.0
    return results


def render(results: dict) -> None:
    """`run`'s figures as a table on stdout: each case's tokens per second and peak memory on both sides."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"ponder bench engine: {results['model']} on {results['device']}")
    table.caption = ("tok/s: generated tokens per second; peer: transformers generate, or for speculative cases "
                     "the engine without its draft; MB: peak memory of each side's own process")
    for column in ["case", "ponder tok/s", "peer tok/s", "ratio", "ponder MB", "peer MB", "GFLOP/s"]:
        table.add_column(column, justify="left" if column == "case" else "right", no_wrap=True)
    for case, figures in results["cases"].items():
        if case == "join":
            continue
        peer = CASES[case][0]
        table.add_row(case, f"{figures['ponder']['tokens_per_s']:,.0f}", f"{figures[peer]['tokens_per_s']:,.0f}",
                      f"{figures['speedup']:.2f}x", f"{figures['ponder']['peak_memory_mb']:,.0f}",
                      f"{figures[peer]['peak_memory_mb']:,.0f}", f"{figures['ponder']['gflops']:.1f}")
    if table.row_count:
        Console().print(table)
    if "peak_fraction" in results:
        print(f"n=64 from a short prompt: {results['gflops']:.1f} GFLOP/s, {results['peak_fraction']:.1%} of this "
              f"machine's fp32 matmul peak ({results['peak_gflops']:.0f} GFLOP/s, measured in the same run)")
    if "join" in results["cases"]:
        figures = results["cases"]["join"]
        for side, how in (("ponder", f"chunked ({figures['ponder']['prefill_chunk']} tokens a step)"),
                          ("whole", "prefilled whole")):
            f = figures[side]
            print(f"a {figures['prompt_tokens']}-token prompt joins 64 decoding rows, {how}: their gap between tokens "
                  f"p50 {f['gap_p50_ms']:.1f} ms, p99 {f['gap_p99_ms']:.1f} ms ({f['p99_over_p50']:.2f}x), longest "
                  f"{f['gap_max_ms']:.0f} ms; the prompt's first token after {f['first_token_ms']:.0f} ms")
    if "acceptance_rate" in results:
        print(f"speculative decoding: acceptance rate {results['acceptance_rate']:.1%}")
