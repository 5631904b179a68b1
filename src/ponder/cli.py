"""ponder's command line: solve, eval, train, bench, demo. See DESIGN.md for the stable contract.

Bad arguments and bad input exit 2 with one line on stderr and no traceback.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import replace
from typing import Optional

import typer

from ponder.errors import InvalidArgumentError, PonderError
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
BACKEND_HELP = "local: ponder's engine (batched, prefix-shared, streaming, abort)."
STRATEGY_HELP = ("single | vote | weighted-vote | best-of-n | adaptive-vote | first-finish | short-vote | deepconf | "
                 "beam | particle | spec-reason (docs/strategies.md)")
VERIFIER_HELP = ("For the strategies that use one: best-of-n and weighted-vote (any), beam and particle (a step "
                 "verifier). arith-steps (re-computes each equation), orm (the shipped reward model; orm:MODEL for "
                 "another), judge (the model grades the candidates).")
DRAFT_HELP = ("A smaller model with the same tokenizer: the step writer of spec-reason; with any other strategy, "
              "speculative decoding inside the engine (the same output distribution, faster).")
OPTION_HELP = "A strategy option, KEY=VALUE (repeatable), e.g. --option confidence=0.99 for adaptive-vote."


def _generators(backend: str, model: str, seed: int, device: str, draft: str | None, strategy: str):
    """The model's generator, and the draft's for spec-reason (any other strategy runs the draft inside the
    engine, as speculative decoding)."""
    if backend != "local":
        raise InvalidArgumentError(f"unknown backend {backend!r}; choose from ['local']")
    from ponder.backends.local import LocalGenerator

    if strategy == "spec-reason":
        if draft is None:
            raise InvalidArgumentError("spec-reason needs a draft model (--draft), e.g. --draft ponder-arith-draft")
        return LocalGenerator(model, seed=seed, device=device), LocalGenerator(draft, seed=seed + 1, device=device)
    return LocalGenerator(model, seed=seed, device=device, draft=draft), None


def _strategy_config(strategy: str, budget: int, temperature: float, max_tokens: int, options: list[str] | None = None,
                     verifier: str | None = None):
    """The strategy's config; every name checked before a model is loaded."""
    from ponder.backends.base import SamplingParams
    from ponder.strategies import STRATEGIES, StrategyConfig
    from ponder.verifiers import VERIFIERS

    if strategy not in STRATEGIES:
        raise InvalidArgumentError(f"unknown strategy {strategy!r}; choose from {sorted(STRATEGIES)}")
    if verifier is not None and verifier.partition(":")[0] not in VERIFIERS:
        raise InvalidArgumentError(f"unknown verifier {verifier!r}; choose from {list(VERIFIERS)} (or orm:MODEL)")
    parsed = {}
    for option in options or []:
        key, sep, value = option.partition("=")
        if not sep or not key:
            raise InvalidArgumentError(f"--option {option!r} is not KEY=VALUE")
        parsed[key.strip().replace("-", "_")] = value.strip()
    return StrategyConfig(budget=budget, sampling=SamplingParams(temperature=temperature, max_tokens=max_tokens),
                          options=parsed)


def _verifier(name: str | None, device: str, generator):
    if name is None:
        return None
    from ponder.verifiers import load

    return load(name, device=device, generator=generator)


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
    from ponder.strategies import STRATEGIES
    from ponder.tasks import arith

    config = _strategy_config(strategy, budget, temperature, max_tokens, option, verifier)
    if not question.strip():
        raise InvalidArgumentError("the question is empty")
    generator, drafter = _generators(backend, model, seed, device, draft, strategy)
    checker = _verifier(verifier, device, generator)
    config = replace(config, draft=drafter)
    problem = arith.Problem(id="question", question=question, solution="", answer=None, level=0)
    live = not as_json and sys.stderr.isatty()
    if live:
        from ponder.live import Watched

        generator = Watched(generator, problem.extract, f"{strategy}@{budget}: {question}")
        with generator:
            result = asyncio.run(STRATEGIES[strategy](problem, generator, checker, config))
    else:
        result = asyncio.run(STRATEGIES[strategy](problem, generator, checker, config))
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
    task: str = typer.Option(..., help="The benchmark: arith."),
    strategy: str = typer.Option(..., help=STRATEGY_HELP),
    budget: int = typer.Option(..., help="The most full samples to spend per problem."),
    verifier: Optional[str] = typer.Option(None, help=VERIFIER_HELP),
    option: Optional[list[str]] = typer.Option(None, help=OPTION_HELP),
    data: Optional[str] = typer.Option(None, help="A data file for tasks that load one (arith is generated)."),
    limit: int = typer.Option(100, help="How many problems."),
    seed: int = typer.Option(0, help="Picks the problem set (arith) and seeds sampling."),
    model: str = typer.Option(DEFAULT_MODEL, help=MODEL_HELP),
    draft: Optional[str] = typer.Option(None, help=DRAFT_HELP),
    temperature: float = typer.Option(0.7, help="Sampling temperature; 0 is greedy."),
    max_tokens: int = typer.Option(256, help="The most tokens per sample."),
    out: Optional[str] = typer.Option(None, help="Folder for results.jsonl (one record per problem) and summary.json."),
    concurrency: Optional[int] = typer.Option(None, help="Problems in flight at once (default: all, the most "
                                              "throughput; 1 measures each problem's latency alone)."),
    device: str = typer.Option("cpu", help=DEVICE_HELP),
    backend: str = typer.Option("local", help=BACKEND_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
):
    """Run a strategy over a benchmark: accuracy (overall and per level), tokens and time.

    Example: ponder eval --task arith --seed 1 --limit 500 --strategy vote --budget 16 --json
    """
    from ponder import tasks
    from ponder.eval.runner import evaluate as run_eval

    config = _strategy_config(strategy, budget, temperature, max_tokens, option, verifier)
    if data is not None and task == "arith":
        raise InvalidArgumentError("task 'arith' is generated from --seed and takes no --data")
    problems = tasks.load(task, seed, limit)
    generator, drafter = _generators(backend, model, seed, device, draft, strategy)
    checker = _verifier(verifier, device, generator)
    config = replace(config, draft=drafter)
    summary = run_eval(task, problems, strategy, generator, config, verifier=checker, out=out,
                       progress=sys.stderr.isatty(), concurrency=concurrency, model=model, seed=seed, backend=backend,
                       options=dict(config.options), draft=draft)
    if as_json:
        print(json.dumps(summary))
    else:
        _print_table([summary])


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


BENCHMARKS = ("engine",)


@app.command()
def bench(
    name: str = typer.Argument(..., help="engine: ponder's engine against transformers' generate."),
    model: str = typer.Option(DEFAULT_MODEL, help=MODEL_HELP),
    draft: str = typer.Option("ponder-arith-draft", help="The draft model of the speculative-decoding case."),
    device: str = typer.Option("cpu", help=DEVICE_HELP),
    threads: Optional[int] = typer.Option(None, help="torch CPU threads per side (default: all cores)."),
    case: Optional[list[str]] = typer.Option(None, help="Run only these cases (repeatable): short, long, "
                                             "concurrent, speculative-greedy, speculative-sampled."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as one JSON object."),
):
    """Measure speed and memory side by side with a peer, in one run; ratios are ponder over the peer.

    Example: ponder bench engine --json
    """
    if name not in BENCHMARKS:
        raise InvalidArgumentError(f"unknown benchmark {name!r}; choose from {list(BENCHMARKS)}")
    from ponder.bench import engine as bench_engine

    unknown = sorted(set(case or []) - set(bench_engine.CASES))
    if unknown:
        raise InvalidArgumentError(f"unknown case {unknown[0]!r}; choose from {list(bench_engine.CASES)}")
    say = (lambda text: print(f"ponder bench: {text}", file=sys.stderr, flush=True)) if not as_json else None
    results = bench_engine.run(model, draft, device, threads, case, progress=say)
    if as_json:
        print(json.dumps(results))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"ponder bench engine: {model} on {device}")
    table.caption = ("tok/s: generated tokens per second; peer: transformers generate, or for speculative cases "
                     "the engine without its draft; MB: peak memory of each side's own process")
    for column in ["case", "ponder tok/s", "peer tok/s", "ratio", "ponder MB", "peer MB", "GFLOP/s"]:
        table.add_column(column, justify="left" if column == "case" else "right", no_wrap=True)
    for case_name, figures in results["cases"].items():
        peer = bench_engine.CASES[case_name][0]
        table.add_row(case_name, f"{figures['ponder']['tokens_per_s']:,.0f}", f"{figures[peer]['tokens_per_s']:,.0f}",
                      f"{figures['speedup']:.2f}x", f"{figures['ponder']['peak_memory_mb']:,.0f}",
                      f"{figures[peer]['peak_memory_mb']:,.0f}", f"{figures['ponder']['gflops']:.1f}")
    Console().print(table)
    if "acceptance_rate" in results:
        print(f"speculative decoding: acceptance rate {results['acceptance_rate']:.1%}")


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

    problems = tasks.load("arith", seed, limit)
    generator, _ = _generators("local", model, seed, "cpu", None, "vote")
    summaries = [
        run_eval("arith", problems, strategy, generator, _strategy_config(strategy, b, 0.7, 256), model=model)
        for strategy, b in (("single", 1), ("vote", budget))
    ]
    _print_table(summaries)
    gain = summaries[1]["accuracy"] - summaries[0]["accuracy"]
    cost = summaries[1]["tokens_generated_per_problem"] / max(summaries[0]["tokens_generated_per_problem"], 1)
    print(f"\nvote@{budget} is {gain:+.1%} accuracy over one sample, for {cost:.1f}x the generated tokens.")


def _print_table(summaries: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    levels = sorted({lvl for s in summaries for lvl in s["accuracy_by_level"]}, key=int)
    table = Table(title=f"{summaries[0]['task']}: {summaries[0]['n_problems']} problems")
    table.caption = "L1..L6: accuracy by number of steps; tokens: generated per problem"
    for column in ["strategy", "accuracy", *[f"L{lvl}" for lvl in levels], "tokens", "wall s"]:
        table.add_column(column, justify="left" if column == "strategy" else "right", no_wrap=True)
    for s in summaries:
        per_level = [f"{s['accuracy_by_level'].get(lvl, float('nan')):.0%}" for lvl in levels]
        table.add_row(f"{s['strategy']}@{s['budget']}", f"{s['accuracy']:.1%}", *per_level,
                      f"{s['tokens_generated_per_problem']:.0f}", f"{s['wall_s']:.1f}")
    Console().print(table)


def main() -> None:
    """Entry point: runs the app and turns every expected error into one line on stderr and exit code 2."""
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        print("ponder: interrupted", file=sys.stderr)
        sys.exit(130)
    except typer.TyperException as error:  # a malformed command line (typer's own click errors)
        message = error.format_message() if hasattr(error, "format_message") else str(error)
        print(f"ponder: error: {' '.join(message.split())}", file=sys.stderr)
        sys.exit(2)
    except PonderError as error:
        print(f"ponder: error: {error}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
