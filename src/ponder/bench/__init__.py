"""`ponder bench NAME`: measured speed and memory, side by side with a peer in the same run.

BENCHMARKS maps each name to its Benchmark: the checks of its options (one InvalidArgumentError, before any
work), its run (the figures: a dict, printed as is with --json) and its text form. A benchmark imports its
module only when it is checked or run, so the command line loads none of them to start.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable, Optional

from ponder.errors import InvalidArgumentError

Progress = Optional[Callable[[str], None]]


@dataclass(frozen=True)
class Options:
    """Every option of `ponder bench` (its --help says which benchmark reads which)."""

    model: str
    draft: str
    device: str
    threads: int | None
    cases: list[str] | None
    requests: int
    clients: int
    server_model: str
    limit: int
    new_tokens: int
    backend: str | None
    peer: str | None
    install: bool
    deadline: float | None = None


@dataclass(frozen=True)
class Benchmark:
    about: str                                 # what it measures, for --help
    check: Callable[[Options], None]           # InvalidArgumentError on a bad option, before any work
    run: Callable[[Options, Progress], dict]   # the figures; a peer that is not installed raises peers.PeerMissing
    show: Callable[[dict, Options], None]      # prints the figures as text


def _no_peer(options: Options) -> None:
    if options.peer is not None:
        raise InvalidArgumentError("--peer is for ponder bench engine and ponder bench strategies")


def _no_deadline(options: Options) -> None:
    if options.deadline is not None:
        raise InvalidArgumentError("--deadline is for ponder bench server")


def _known_peer(options: Options) -> None:
    from ponder.bench import peers

    if options.peer is not None and options.peer not in peers.PEERS:
        raise InvalidArgumentError(f"unknown peer {options.peer!r}; choose from {list(peers.PEERS)}")


def _positive_limit(options: Options) -> None:
    if options.limit < 1:
        raise InvalidArgumentError("--limit must be >= 1")


def _show_json(figures: dict, options: Options) -> None:
    print(json.dumps(figures, indent=2))


def _check_engine(options: Options) -> None:
    _no_deadline(options)
    if options.peer is not None:  # against a peer's server: versus.py, its own workloads (no --case)
        _known_peer(options)
        if options.new_tokens < 1:
            raise InvalidArgumentError("--new-tokens must be >= 1")
        return
    from ponder.bench.engine import CASES

    unknown = sorted(set(options.cases or []) - set(CASES))
    if unknown:
        raise InvalidArgumentError(f"unknown case {unknown[0]!r}; choose from {list(CASES)}")


def _run_engine(options: Options, progress: Progress) -> dict:
    if options.peer is not None:
        from ponder.bench import versus

        return versus.run(options.peer, options.model, install=options.install, progress=progress,
                          new_tokens=options.new_tokens)
    from ponder.bench import engine

    return engine.run(options.model, options.draft, options.device, options.threads, options.cases,
                      progress=progress)


def _show_engine(figures: dict, options: Options) -> None:
    if options.peer is not None:
        _show_json(figures, options)
    else:
        from ponder.bench.engine import render

        render(figures)


def _check_server(options: Options) -> None:
    _no_peer(options)
    if options.requests < 1 or options.clients < 1:
        raise InvalidArgumentError("--requests and --clients must be >= 1")
    if options.deadline is not None and not options.deadline > 0:
        raise InvalidArgumentError(f"--deadline={options.deadline} must be > 0 seconds")


def _run_server(options: Options, progress: Progress) -> dict:
    from ponder.bench import server

    return server.run(options.requests, options.clients, options.server_model, options.deadline, progress=progress)


def _show_server(figures: dict, options: Options) -> None:
    print("\n".join(f"{key}: {value}" for key, value in figures.items()))


def _check_llamacpp(options: Options) -> None:
    _no_peer(options)
    _no_deadline(options)
    _positive_limit(options)


def _run_llamacpp(options: Options, progress: Progress) -> dict:
    from ponder.bench import llamacpp

    return llamacpp.run(options.model, problems=options.limit, install=options.install, progress=progress)


def _check_reasoning(options: Options) -> None:
    if options.peer not in (None, "vllm"):
        raise InvalidArgumentError("ponder bench reasoning runs against vLLM (--peer vllm): its reasoning parser")
    _no_deadline(options)
    _positive_limit(options)


def _run_reasoning(options: Options, progress: Progress) -> dict:
    from ponder.bench import reasoning
    from ponder.models import DEFAULT_MODEL

    model = "ponder-arith-think" if options.model == DEFAULT_MODEL else options.model  # a model that thinks
    return reasoning.run(model, problems=options.limit, install=options.install, progress=progress)


def _check_strategies(options: Options) -> None:
    if (options.peer is None) == (options.backend is None):
        raise InvalidArgumentError("ponder bench strategies needs a server: --backend URL, or --peer NAME to start one")
    _no_deadline(options)
    _positive_limit(options)
    _known_peer(options)


def _run_strategies(options: Options, progress: Progress) -> dict:
    from ponder.bench import strategies

    return strategies.run(options.backend, options.peer, options.model, problems=options.limit,
                          install=options.install, progress=progress)


BENCHMARKS = {
    "engine": Benchmark("ponder's engine against transformers' generate (or, with --peer, another engine's server)",
                        _check_engine, _run_engine, _show_engine),
    "server": Benchmark("a real ponder serve under load from concurrent openai clients",
                        _check_server, _run_server, _show_server),
    "llamacpp": Benchmark("llama.cpp's server on the exported GGUF, greedy answers against ponder's and every "
                          "strategy through it", _check_llamacpp, _run_llamacpp, _show_json),
    "reasoning": Benchmark("a thinking model behind vLLM's reasoning parser (ponder-arith-think unless --model): "
                           "its split of reasoning and content and its thinking_token_budget against ponder serve's, "
                           "and every strategy through it", _check_reasoning, _run_reasoning, _show_json),
    "strategies": Benchmark("adaptive-vote against plain n=32 sampling through another engine's server (--backend "
                            "or --peer), the tokens its early abort saves", _check_strategies, _run_strategies,
                            _show_json),
}
