"""`ponder bench reasoning --peer vllm`: a thinking model (ponder-arith-think) behind vLLM's own reasoning parser,
against ponder serve on the same weights, both asked the same way by the official openai client; and ponder's
OpenAI backend in front of vLLM.

Four parts, one run:
- split: problems answered greedily by both servers' chat completions; each reply's reasoning (`reasoning`, or
  `reasoning_content`) and content, equal or not, and the reasoning tokens each server reports in its usage beside
  the tokens of the reasoning text.
- budget: `thinking_token_budget` B on the same problems, both servers: the most reasoning tokens a reply spent
  (its reasoning text tokenized) against B, and the accuracy of each. vLLM counts the tokens a chat template
  writes after `<think>` in the prompt into the budget (ponder-arith-think's template writes a newline there);
  ponder counts the tokens its samples reason. So vLLM's replies at B are also set beside ponder's at B less those
  prompt tokens (`splits_equal_at_vllms_count`).
- backend: the same greedy samples through ponder's OpenAI backend on vLLM (streamed: the think block rebuilt from
  `reasoning` deltas) against ponder's engine here: reasoning, content and reasoning tokens equal or not.
- strategies: every strategy through the OpenAI backend on vLLM, its accuracy and tokens (or the error that
  refuses it: s1's budget forcing needs ponder's engine to write "Wait").
- forwarded: a field ponder does not know, sent to a `ponder serve --backend` in front of vLLM, reaches vLLM:
  vLLM's `bad_words: ["+"]` keeps "+" out of every reply (plain replies, the same problems, have it); and
  `response_format` (a JSON schema: one integer), which ponder's engine refuses, is vLLM's to keep there: replies
  whose content is JSON (a plain reply's, "Answer: 38", is not).
"""

from __future__ import annotations

import asyncio

from ponder.bench import peers
from ponder.bench.llamacpp import _accuracy, _all, _timed

MAX_TOKENS = 256
BUDGETS = (4, 8, 16)
INTEGER = {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "integer"}}}


def run(model: str = "ponder-arith-think", problems: int = 50, strategy_problems: int = 10, budget: int = 4,
        seed: int = 0, parser: str = "deepseek_r1", install: bool = False, progress=None) -> dict:
    from ponder.backends.base import SamplingParams, generate
    from ponder.backends.local import LocalGenerator
    from ponder.runtime import Choice, Runtime
    from ponder.strategies import STRATEGIES
    from ponder.tasks import arith

    python = peers.find("vllm", install=install, progress=progress)
    say = progress or (lambda text: None)
    tasks = arith.problems(seed, problems)
    local = LocalGenerator(model, seed=seed)
    try:
        with peers.serve("vllm", python, model, context=local.context, reasoning_parser=parser) as (vllm, _), \
                peers.ponder_serve("--model", model, "--seed", str(seed)) as (ponder, _):
            say(f"split: {problems} greedy chat replies from vLLM ({parser}) and from ponder serve")
            theirs = asyncio.run(_replies(vllm, model, tasks))
            ours = asyncio.run(_replies(ponder, model, tasks))
            split = _compare(local.tokenizer, tasks, ours, theirs)
            opened = _opened(local.tokenizer, tasks[0].prompt())
            budgets = {}
            for b in BUDGETS:
                say(f"budget: thinking_token_budget={b} on both servers")
                theirs = asyncio.run(_replies(vllm, model, tasks, b))
                budgets[b] = _compare(local.tokenizer, tasks, asyncio.run(_replies(ponder, model, tasks, b)), theirs)
                counted = asyncio.run(_replies(ponder, model, tasks, max(b - opened, 0)))
                budgets[b]["splits_equal_at_vllms_count"] = sum(a[:2] == t[:2] for a, t in zip(counted, theirs))
            say(f"backend: {problems} greedy samples through ponder's OpenAI backend on vLLM, and here")
            remote = Runtime(Choice(backend=vllm, model=model, draft=f"{model}-draft", verifier="arith-steps",
                                    seed=seed), [name for name, entry in STRATEGIES.items()
                                                 if entry.model and not entry.chooses])
            greedy = SamplingParams(temperature=0, max_tokens=MAX_TOKENS)

            async def samples(generator):
                return [g.samples[0] for g in await asyncio.gather(*(generate(generator, p.prompt(), greedy)
                                                                      for p in tasks))]
            try:
                here, there = asyncio.run(samples(local)), asyncio.run(samples(remote.generator))
                backend = {"problems": problems,
                           "equal": sum((a.reasoning, a.content, a.reasoning_tokens) ==
                                        (b.reasoning, b.content, b.reasoning_tokens) for a, b in zip(here, there)),
                           "reasoning_tokens": {"here": sum(a.reasoning_tokens for a in here),
                                                "through_vllm": sum(b.reasoning_tokens for b in there)}}
                strategies = {}
                for name in sorted(n for n, entry in STRATEGIES.items() if entry.model and not entry.chooses):
                    say(f"strategies: {name}@{budget} on {strategy_problems} problems through vLLM")
                    strategies[name] = _strategy(remote, name, arith.problems(seed + 1, strategy_problems), budget)
            finally:
                remote.close()
            say("forwarded: vLLM's bad_words through a ponder serve in front of it")
            with peers.ponder_serve("--backend", vllm, "--model", model) as (front, _):
                forwarded = {"problems": problems, "unknown_fields": set()}
                for name, extra in (("plain", None), ("bad_words", {"bad_words": ["+"]}),
                                    ("response_format", {"response_format": INTEGER})):
                    replies = asyncio.run(_replies(front, model, tasks, extra=extra, report=forwarded))
                    forwarded[name] = {"with_plus": sum("+" in thought + content for thought, content, _ in replies),
                                       "json_content": sum(_json(content) for _, content, _ in replies)}
                forwarded["unknown_fields"] = sorted(forwarded["unknown_fields"])
    finally:
        local.close()
    return {"peer": peers.describe("vllm", python), "reasoning_parser": parser, "model": model, "split": split,
            "prompt_tokens_after_think": opened, "budget": budgets, "backend": backend, "strategies": strategies,
            "forwarded": forwarded}


async def _replies(url: str, model: str, tasks, budget: int | None = None, extra: dict | None = None,
                   report: dict | None = None) -> list[tuple[str, str, int | None]]:
    """(reasoning, content, usage's reasoning_tokens) of a greedy chat reply to each problem, asked all at once
    (with `extra` in the body; a ponder serve's report of unknown fields gathered in `report`)."""
    import openai

    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="-", max_retries=0, timeout=600)
    extra = {**(extra or {}), **({} if budget is None else {"thinking_token_budget": budget})}

    async def ask(task):
        reply = await client.chat.completions.create(model=model, messages=task.prompt(), temperature=0,
                                                     max_tokens=MAX_TOKENS, extra_body=extra or None)
        message, details = reply.choices[0].message, reply.usage.completion_tokens_details
        if report is not None:
            report["unknown_fields"].update((reply.model_extra or {}).get("ponder", {}).get("unknown_fields", []))
        reasoning = (message.model_extra or {}).get("reasoning") or (message.model_extra or {}).get(
            "reasoning_content") or ""
        return reasoning, message.content or "", details.reasoning_tokens if details else None
    async with client:
        return await asyncio.gather(*(ask(task) for task in tasks))


def _json(text: str) -> bool:
    import json

    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _opened(tokenizer, messages) -> int:
    """How many tokens the chat template writes after the start marker it opens the answer with (vLLM counts them
    as thinking)."""
    from ponder.backends.base import prompt_text
    from ponder.reasoning import markers_of

    text = prompt_text(tokenizer, messages, "")
    start = markers_of(tokenizer).start
    return len(tokenizer.encode(text[text.rindex(start) + len(start):], add_special_tokens=False)) \
        if start in text else 0


def _compare(tokenizer, tasks, ours, theirs) -> dict:
    """ponder serve's replies (`ours`) against the peer's: how many splits are equal, the reasoning tokens each
    reports beside those of its reasoning text, the most any reply spent, and each side's accuracy."""
    def counted(replies):
        spent = [len(tokenizer.encode(reasoning, add_special_tokens=False)) for reasoning, _, _ in replies]
        return {"reasoning_tokens_reported": sum(r or 0 for _, _, r in replies),
                "reasoning_tokens_of_text": sum(spent), "most_reasoning_tokens": max(spent),
                "accuracy": round(sum(t.extract(content) == t.answer for t, (_, content, _) in zip(tasks, replies))
                                  / len(tasks), 4)}
    return {"problems": len(tasks), "splits_equal": sum(a[:2] == b[:2] for a, b in zip(ours, theirs)),
            "differ": [t.id for t, a, b in zip(tasks, ours, theirs) if a[:2] != b[:2]][:10],
            "ponder": counted(ours), "vllm": counted(theirs)}


def _strategy(runtime, name: str, tasks, budget: int) -> dict:
    from dataclasses import fields

    from ponder.backends.base import SamplingParams
    from ponder.errors import PonderError
    from ponder.strategies import STRATEGIES, StrategyConfig

    config = StrategyConfig(budget=budget, sampling=SamplingParams(temperature=0.8, seed=1, max_tokens=MAX_TOKENS),
                            # budget forcing's B: the model's median trace (docs/thinking.md)
                            options={"thinking_tokens": 44} if "thinking_tokens" in
                            {f.name for f in fields(STRATEGIES[name].options)} else {})
    try:
        results, wall = _timed(_all(runtime, name, tasks, config))
    except PonderError as error:
        return {"refused": str(error)}
    return {"accuracy": _accuracy(tasks, results), "samples_per_problem": sum(r.samples for r in results) / len(tasks),
            "generated_tokens_per_problem": round(sum(r.tokens["generated"] for r in results) / len(tasks), 1),
            "wall_s": round(wall, 2)}
