"""`ponder bench engine --peer vllm|llamacpp`: one sampling workload through `ponder serve` and through a peer's
OpenAI-compatible server, in one run, with the same client, the same model and the same prompts.

Cases (128 tokens a sample by default, the end of sequence ignored, so both sides do the same work; temperature 0.7):
- n64: 64 samples of one arith prompt: one request with n=64 (64 requests at once where a server ignores n,
  as llama.cpp's does);
- concurrent: 16 requests at once, 16 prompts, n=4 each.
The servers take turns: ponder, the peer, then ponder again (this machine's speed drifts; the two ponder turns
bracket the peer's), each alone on the machine's cores. Per turn: a warm-up, then three timed runs; a side's
figure is the median of its timed runs. Throughput is generated tokens (from each response's usage, checked to
be the tokens asked for, or up to 1% more: llama.cpp's server may run on to finish a UTF-8 character) over wall
time.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from ponder.bench import peers
from ponder.errors import PonderError

NEW_TOKENS, RUNS = 128, 3
CASES = ("n64", "concurrent")


def run(peer: str, model: str = "ponder-arith", install: bool = False, progress=None,
        new_tokens: int = NEW_TOKENS) -> dict:
    from transformers import AutoTokenizer

    from ponder.models import resolve
    from ponder.tasks import arith

    python = peers.find(peer, install=install, progress=progress)
    say = progress or (lambda text: None)

    tokenizer = AutoTokenizer.from_pretrained(resolve(model))
    prompts = [tokenizer.apply_chat_template(p.prompt(), add_generation_prompt=True, tokenize=False)
               for p in arith.problems(7, 16)]
    eos = str(tokenizer.eos_token_id)
    fixed = {"ponder": {"ignore_eos": True}, peer: peers.PEERS[peer].fixed_length}
    if "logit_bias" in fixed[peer]:
        fixed[peer] = {"logit_bias": {eos: -100.0}}
    takes_n = {"ponder": True, peer: peers.PEERS[peer].takes_n}
    timed: dict = {side: {case: [] for case in CASES} for side in ("ponder", peer)}
    context = peers.context_length(model)
    for turn, side in enumerate(("ponder", peer, "ponder")):
        say(f"{side}: starting its server" + (" (again: bracketing the peer's turn)" if turn == 2 else ""))
        if side == "ponder":
            server = peers.ponder_serve("--model", model, "--max-n", "64", "--max-tokens", str(new_tokens))
        else:
            server = peers.serve(peer, python, model, context)
        with server as (url, _):
            for case in CASES:
                say(f"{side}: {case}")
                timed[side][case] += _measure(url, model, case, prompts, fixed[side], takes_n[side], new_tokens)
    cases = {}
    for case in CASES:
        ours, theirs = (_figure(timed[side][case]) for side in ("ponder", peer))
        cases[case] = {"ponder": ours, peer: theirs,
                       "ratio": round(ours["tokens_per_s"] / theirs["tokens_per_s"], 3)}
    return {"peer": peers.describe(peer, python), "model": model,
            "new_tokens": new_tokens, "cases": cases,
            "ratio": {case: figures["ratio"] for case, figures in cases.items()}}


def _measure(url: str, model: str, case: str, prompts: list[str], fixed: dict, takes_n: bool,
             new_tokens: int) -> list[tuple]:
    """A warm-up, then RUNS timed runs of `case`: (seconds, tokens generated) each."""
    from openai import AsyncOpenAI

    work = [(prompts[0], 64)] if case == "n64" else [(p, 4) for p in prompts]

    async def once() -> tuple[float, int]:
        client = AsyncOpenAI(base_url=f"{url}/v1", api_key="-", max_retries=0, timeout=600)

        async def request(prompt: str, n: int) -> int:
            reply = await client.completions.create(model=model, prompt=prompt, n=n, max_tokens=new_tokens,
                                                    temperature=0.7, extra_body=fixed)
            return reply.usage.completion_tokens
        calls = [request(p, n) if takes_n else request(p, 1) for p, n in work for _ in range(1 if takes_n else n)]
        started = time.perf_counter()
        tokens = sum(await asyncio.gather(*calls))
        seconds = time.perf_counter() - started
        await client.close()
        asked = sum(n for _, n in work) * new_tokens
        if not asked <= tokens <= asked * 1.01:  # llama.cpp may run a token or two on to finish a UTF-8 character
            raise PonderError(f"{url}: {tokens} tokens generated of the {asked} asked for")
        return seconds, tokens

    asyncio.run(once())  # warm-up
    return [asyncio.run(once()) for _ in range(RUNS)]


def _figure(runs: list[tuple]) -> dict:
    rates = sorted(tokens / seconds for seconds, tokens in runs)
    return {"tokens_per_s": round(statistics.median(rates), 1), "runs": len(runs),
            "tokens_per_run": max(tokens for _, tokens in runs),
            "seconds_median": round(statistics.median(seconds for seconds, _ in runs), 3)}
