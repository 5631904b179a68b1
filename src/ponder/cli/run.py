"""ponder solve, eval and demo: strategies on one question, on a benchmark, and the main job in one screen."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from typing import Optional

import typer

from ponder.cli.app import (ANSWER_RESERVE_HELP, BACKEND_HELP, DEADLINE_HELP, DEVICE_HELP, DRAFT_HELP,
                            MARKERS_HELP, MAX_COST_HELP, MAX_TOTAL_TOKENS_HELP, MIN_P_HELP, MIN_THINKING_HELP,
                            MODEL_HELP, NO_THINKING_HELP, OPTION_HELP, PRICES_HELP, RAY_ADDRESS_HELP, REPLICAS_HELP,
                            STRATEGY_HELP, TEMPERATURE_HELP, THINKING_BUDGET_HELP, TOP_K_HELP, TOP_P_HELP,
                            VERIFIER_HELP, _budgets, _limits, _markers, _runtime, _sampling, _strategy_config, app)
from ponder.errors import InvalidArgumentError
from ponder.eval.records import open_run
from ponder.eval.report import print_pool, print_summaries
from ponder.eval.summary import PoolSummary, Summary
from ponder.models import DEFAULT_MODEL, THINKING_MODEL


@app.command()
def solve(
    question: str = typer.Argument(..., help="The question, in words."),
    strategy: str = typer.Option("single", help=STRATEGY_HELP),
    budget: int = typer.Option(1, help="The most full samples to spend on the question."),
    verifier: Optional[str] = typer.Option(None, help=VERIFIER_HELP),
    option: Optional[list[str]] = typer.Option(None, help=OPTION_HELP),
    model: str = typer.Option(DEFAULT_MODEL, help=MODEL_HELP),
    draft: Optional[str] = typer.Option(None, help=DRAFT_HELP),
    seed: int = typer.Option(0, help="Sampling seed."),
    temperature: Optional[float] = typer.Option(None, help=TEMPERATURE_HELP),
    top_p: Optional[float] = typer.Option(None, help=TOP_P_HELP),
    top_k: Optional[int] = typer.Option(None, help=TOP_K_HELP),
    min_p: Optional[float] = typer.Option(None, help=MIN_P_HELP),
    max_tokens: int = typer.Option(256, help="The most tokens per sample."),
    thinking_budget: Optional[int] = typer.Option(None, help=THINKING_BUDGET_HELP),
    min_thinking_tokens: Optional[int] = typer.Option(None, help=MIN_THINKING_HELP),
    no_thinking: bool = typer.Option(False, "--no-thinking", help=NO_THINKING_HELP),
    answer_reserve: Optional[int] = typer.Option(None, help=ANSWER_RESERVE_HELP),
    reasoning_markers: Optional[str] = typer.Option(None, help=MARKERS_HELP),
    max_total_tokens: Optional[int] = typer.Option(None, help=MAX_TOTAL_TOKENS_HELP),
    deadline: Optional[float] = typer.Option(None, help=DEADLINE_HELP),
    max_cost: Optional[float] = typer.Option(None, help=MAX_COST_HELP),
    prices: Optional[str] = typer.Option(None, help=PRICES_HELP),
    device: str = typer.Option("cpu", help=DEVICE_HELP),
    backend: str = typer.Option("local", help=BACKEND_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print only the whole Result, as one JSON object, with the "
                                 "winning candidate's \"reasoning\" (its think block) and \"content\" beside it."),
):
    """Answer one question. In a terminal, every sample and the vote tally show live; then the winning candidate,
    a thinking model's reasoning dimmed, and its answer.

    Example: ponder solve "Mia has 23 pens. She buys 15 more. How many pens does she have now?"
    --strategy adaptive-vote --budget 32
    """
    from ponder.runtime import Choice, Runtime, entry
    from ponder.tasks.question import Question

    sampling = _sampling(model, backend, max_tokens, temperature, top_p, top_k, min_p, thinking_budget,
                         min_thinking_tokens, no_thinking, answer_reserve)
    config = _strategy_config(strategy, budget, sampling, option,
                              _limits(max_total_tokens, deadline, max_cost, prices))
    markers = _markers(reasoning_markers)
    if not question.strip():
        raise InvalidArgumentError("the question is empty")
    if not entry(strategy).model:
        raise InvalidArgumentError(f"{strategy} answers with a dataset's own solution, and a question has none: "
                                   f"use it with ponder eval --strategy {strategy}")
    problem = Question.asked(question)
    with Runtime(Choice(backend, model, draft, verifier, device, seed, markers), [strategy]) as runtime:
        if not as_json and sys.stderr.isatty():  # the live view: every sample and the tally, as they come
            from ponder.live import Watched

            with Watched(runtime.generator, problem.extract, f"{strategy}@{budget}: {question}") as watched:
                result = asyncio.run(runtime.solve(problem, strategy, config, observe=lambda _: watched))
        else:
            result = asyncio.run(runtime.solve(problem, strategy, config))
        reasoning, content = winner(result, runtime.generator, problem, config.sampling)
    if as_json:
        print(json.dumps({**result.to_dict(), "reasoning": reasoning, "content": content}))
        return
    from rich.console import Console
    from rich.markup import escape

    console = Console()
    if reasoning:  # the model's text as it wrote it: no markup of its own, no highlighting
        console.print(f"[dim]{escape(reasoning)}[/dim]", highlight=False)
    if content:
        console.print(escape(content), highlight=False)
    console.print(f"[bold]Answer:[/bold] {escape(str(result.answer))}")
    console.print(f"{result.strategy}@{result.budget}: {result.samples} samples, votes {result.votes or '{}'}, "
                  f"{result.tokens['generated']} tokens generated, {result.wall_s:.2f} s; "
                  f"stopped: {result.stop_reason}")


@app.command("eval")
def evaluate(
    task: str = typer.Option(..., help="The benchmark: arith (generated, no file), gsm8k, math500, aime24, aime25, "
                             "humaneval (these need --data)."),
    strategy: Optional[str] = typer.Option(None, help=STRATEGY_HELP + "; several, comma-separated, make a grid "
                                           "(reference: the dataset's own solutions, no model)."),
    budget: str = typer.Option("1", help="The most full samples per problem; several, comma-separated "
                               "(e.g. 1,4,16,64), make a grid with --strategy."),
    tokens_per_problem: Optional[float] = typer.Option(None, help="Allocation across the batch: spend an average of "
                                                       "this many generated tokens per problem over the dataset, "
                                                       "in rounds, more where a problem's vote is still open "
                                                       "(docs/compute-optimal.md); each answers by its vote."),
    pool: Optional[int] = typer.Option(None, help="Draw this many samples per problem once and report pass@k, "
                                       "maj@k (and best@k with --verifier) for every k up to it, with 95% "
                                       "intervals and the coverage fit."),
    verifier: Optional[str] = typer.Option(None, help=VERIFIER_HELP),
    option: Optional[list[str]] = typer.Option(None, help=OPTION_HELP),
    data: Optional[str] = typer.Option(None, help="The benchmark's data: a JSONL file (plain or .gz; the layouts "
                                       "of ../shared/data) or a Hugging Face hub id (needs `datasets` and a network)."),
    style: str = typer.Option("chat", help="Prompt: chat (the model's chat template) or few-shot (worked examples "
                              "in a text, for base models)."),
    limit: Optional[int] = typer.Option(None, help="How many problems (arith: default 100; benchmarks: all)."),
    seed: int = typer.Option(0, help="Picks the problem set (arith) and seeds each problem's sampling."),
    model: str = typer.Option(DEFAULT_MODEL, help=MODEL_HELP),
    draft: Optional[str] = typer.Option(None, help=DRAFT_HELP),
    temperature: Optional[float] = typer.Option(None, help=TEMPERATURE_HELP),
    top_p: Optional[float] = typer.Option(None, help=TOP_P_HELP),
    top_k: Optional[int] = typer.Option(None, help=TOP_K_HELP),
    min_p: Optional[float] = typer.Option(None, help=MIN_P_HELP),
    max_tokens: int = typer.Option(256, help="The most tokens per sample."),
    thinking_budget: Optional[int] = typer.Option(None, help=THINKING_BUDGET_HELP),
    min_thinking_tokens: Optional[int] = typer.Option(None, help=MIN_THINKING_HELP),
    no_thinking: bool = typer.Option(False, "--no-thinking", help=NO_THINKING_HELP),
    answer_reserve: Optional[int] = typer.Option(None, help=ANSWER_RESERVE_HELP),
    reasoning_markers: Optional[str] = typer.Option(None, help=MARKERS_HELP),
    max_total_tokens: Optional[int] = typer.Option(None, help=MAX_TOTAL_TOKENS_HELP),
    deadline: Optional[float] = typer.Option(None, help=DEADLINE_HELP),
    max_cost: Optional[float] = typer.Option(None, help=MAX_COST_HELP),
    prices: Optional[str] = typer.Option(None, help=PRICES_HELP),
    out: Optional[str] = typer.Option(None, help="Run folder: records.jsonl (one record per problem and strategy, "
                                      "written as each finishes), manifest.json, summaries.json. A rerun with "
                                      "the same settings resumes: finished records are skipped."),
    concurrency: Optional[int] = typer.Option(None, help="Problems in flight at once (default: all, the most "
                                              "throughput; 1 measures each problem's latency alone)."),
    device: str = typer.Option("cpu", help=DEVICE_HELP),
    backend: str = typer.Option("local", help=BACKEND_HELP),
    replicas: Optional[int] = typer.Option(None, help=REPLICAS_HELP + " Problems are shared out over them; a "
                                           "replica that dies has its problems run again on another."),
    ray_address: Optional[str] = typer.Option(None, help=RAY_ADDRESS_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print each summary as one JSON object (one per line)."),
):
    """Run strategies over a benchmark: accuracy with a 95% interval (overall and per level), tokens and time;
    or draw a sample pool and report the scaling curves.

    Example: ponder eval --task arith --seed 1 --limit 500 --strategy vote --budget 16 --json

    Example: ponder eval --task arith --limit 200 --strategy vote,adaptive-vote --budget 1,4,16 --out runs/grid

    Example: ponder eval --task arith --limit 200 --pool 64 --out runs/pool   (then: ponder report runs/pool)

    Example: ponder eval --task gsm8k --data ../shared/data/gsm8k/test.jsonl --strategy reference
    """
    from ponder import tasks
    from ponder.runtime import Choice, entry

    strategies = [name.strip() for name in (strategy or "").split(",") if name.strip()]
    budgets = _budgets(budget)
    if not strategies and pool is None and tokens_per_problem is None:
        raise InvalidArgumentError("say what to run: --strategy NAME[,NAME...], --pool N and/or --tokens-per-problem B")
    if tokens_per_problem is not None and (not tokens_per_problem > 0 or replicas is not None):
        raise InvalidArgumentError(f"--tokens-per-problem={tokens_per_problem} must be > 0, on one engine (no "
                                   "--replicas)")
    if pool is not None and pool < 1:
        raise InvalidArgumentError(f"pool={pool} must be >= 1")
    if replicas is not None and pool is not None:
        raise InvalidArgumentError("--replicas runs --strategy grids; --pool draws its samples on one engine")
    modelled = {name: entry(name).model for name in strategies}  # reference asks no model: one budget, no options
    grid = [(name, b) for name in strategies for b in (budgets if modelled[name] else [1])]
    sampling = _sampling(model, backend, max_tokens, temperature, top_p, top_k, min_p, thinking_budget,
                         min_thinking_tokens, no_thinking, answer_reserve)
    limits = _limits(max_total_tokens, deadline, max_cost, prices)
    if (limits.any or prices is not None) and (pool is not None or tokens_per_problem is not None
                                               or not any(modelled.values())):
        raise InvalidArgumentError("--max-total-tokens, --deadline, --max-cost and --prices are a strategy's run's "
                                   "(--strategy of a model), not a pool's or a batch allocation's")
    # in the manifest where given, so a run folder resumes only under the same limits (older folders: none)
    limited = {key: value for key, value in (("max_total_tokens", max_total_tokens), ("deadline", deadline),
                                             ("max_cost", max_cost), ("prices", prices)) if value is not None}
    configs = {(name, b): _strategy_config(name, b, sampling, option if modelled[name] else None, limits)
               for name, b in grid}
    markers = _markers(reasoning_markers)
    for text in option or []:  # an option that no strategy of the grid would read is refused, not dropped
        target = text.partition("=")[0].strip().rpartition(".")[0]
        if not any(modelled.get(name) for name in ([target] if target else strategies)):
            raise InvalidArgumentError(f"--option {text!r}: no strategy of this run takes options"
                                       + (f" ({target} is not among --strategy)" if target else ""))
    problems = tasks.load(task, seed, limit, data, style)
    needs_model = pool is not None or tokens_per_problem is not None or any(modelled.values())
    if pool is not None or tokens_per_problem is not None:  # checked before anything loads, as configs are
        from ponder.backends.base import SamplingParams

        pool_sampling = SamplingParams(**sampling)
    # every name and pairing checked before the run folder is written
    runtime = _runtime(Choice(backend, model, draft, verifier, device, seed, markers), strategies, replicas,
                       ray_address, plain=pool is not None or tokens_per_problem is not None)
    try:
        records = open_run(out, task=task, data=data, style=style, model=model if needs_model else None,
                           draft=draft, seed=seed, verifier=verifier, backend=backend, **sampling, **limited,
                           **({"reasoning_markers": reasoning_markers} if markers else {})) if out else None
    except BaseException:  # a folder of another run: the engines stop before the one-line error
        runtime.close()
        raise
    meta = dict(model=model if needs_model else None, backend=backend, draft=draft, data=data, style=style,
                replicas=replicas or 1)
    progress = sys.stderr.isatty()
    summaries = []

    def finished(summary: Summary | PoolSummary) -> None:
        summaries.append(summary)
        if out is not None:  # as each finishes, so a run stopped later keeps the summaries it made
            from ponder.eval.report import save_summaries

            save_summaries(out, [summary])
    # Ray prints notices (a replica that died) on stdout, which --json keeps for the summaries alone
    with contextlib.redirect_stdout(sys.stderr) if replicas is not None else contextlib.nullcontext():
        try:
            from ponder.eval.runner import evaluate as run_eval

            for name, b in grid:
                finished(run_eval(task, problems, name, runtime, configs[name, b], records=records,
                                  progress=progress, concurrency=concurrency, seed=seed, **meta))
            if pool is not None:
                from ponder.eval.pool import draw_pool

                finished(draw_pool(task, problems, pool, runtime, pool_sampling, records=records, progress=progress,
                                   concurrency=concurrency, seed=seed, **meta))
            if tokens_per_problem is not None:
                from ponder.eval.allocate import allocate

                say = (lambda text: print(f"ponder eval: {text}", file=sys.stderr, flush=True)) if progress else None
                finished(allocate(task, problems, runtime, tokens_per_problem, pool_sampling, seed, records=records,
                                  progress=say, **meta))
        finally:
            if records is not None:
                records.close()
            runtime.close()  # before exiting, even on an error: a worker killed mid-step aborts
    if replicas is not None and runtime.retried:
        dead = runtime.alive.count(False)
        print(f"ponder eval: {dead} of {replicas} replicas died; {runtime.retried} problems they held ran again "
              "on another", file=sys.stderr)
    if as_json:
        for summary in summaries:
            print(json.dumps(summary.to_dict()))
        return
    runs = [s for s in summaries if isinstance(s, Summary)]
    if runs:
        print_summaries(runs)
    for summary in summaries:
        if isinstance(summary, PoolSummary):
            print_pool(summary)


def winner(result, generator, problem, sampling) -> tuple[str, str]:
    """(reasoning, content) of the winning candidate, the first whose answer is the Result's: its text split with
    the generator's reasoning markers (a model that does not think, or a generator that cannot say: all content;
    no such candidate: both empty)."""
    from ponder.backends.base import reasoning_split

    text = next((c.text for c in result.candidates if c.answer == result.answer), None)
    if text is None:
        return "", ""
    markers, opened = reasoning_split(generator, problem.prompt(), sampling.enable_thinking)
    return ("", text) if markers is None else markers.split(text, opened)


@app.command()
def demo(
    limit: int = typer.Option(100, help="How many arith problems."),
    budget: int = typer.Option(16, help="Samples in the vote and in the early-stopping strategy."),
    seed: int = typer.Option(0, help="Picks the problems and seeds sampling."),
    model: str = typer.Option(THINKING_MODEL, help=MODEL_HELP),
    early: str = typer.Option("short-vote", help="The early-stopping strategy shown beside the vote."),
):
    """The main job in one screen, on a thinking model: one sample, a majority vote of many, and a strategy that
    stops early, side by side on held-out arith problems (accuracy, thinking and answer tokens)."""
    from ponder import tasks
    from ponder.eval.runner import evaluate as run_eval
    from ponder.runtime import Choice, Runtime

    problems = tasks.load("arith", seed, limit)
    runs = [("single", 1), ("vote", budget), (early, budget)]
    with Runtime(Choice(model=model, seed=seed), [name for name, _ in runs]) as runtime:
        sampling = _sampling(model)
        summaries = [run_eval("arith", problems, name, runtime, _strategy_config(name, b, sampling), model=model)
                     for name, b in runs]
    print_summaries(summaries)
    single, vote, stop = summaries
    cost = lambda s: s.tokens_generated_per_problem / max(single.tokens_generated_per_problem, 1)  # noqa: E731
    print(f"\nvote@{budget} is {vote.accuracy - single.accuracy:+.1%} accuracy over one sample, for {cost(vote):.1f}x "
          f"the generated tokens; {early}@{budget} is {stop.accuracy - vote.accuracy:+.1%} against the vote, for "
          f"{stop.tokens_generated_per_problem / max(vote.tokens_generated_per_problem, 1):.0%} of its tokens.")
