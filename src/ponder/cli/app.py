"""The command line's app, the help its options share, and what the commands build from their arguments: a
strategy's config, the runtime (ponder.runtime) of what the user chose."""

from __future__ import annotations

import typer

from ponder.errors import InvalidArgumentError

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
                 "beam | particle | spec-reason | nothink-vote | budget-forcing (docs/strategies.md)")
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
    from ponder.strategies import STRATEGIES, StrategyConfig

    entry(strategy)
    parsed = {}
    for option in options or []:
        key, sep, value = option.partition("=")
        if not sep or not key:
            raise InvalidArgumentError(f"--option {option!r} is not KEY=VALUE")
        only, dot, key = key.strip().rpartition(".")
        if dot and only not in STRATEGIES:
            raise InvalidArgumentError(f"--option {option!r}: {only!r} is not a strategy")
        if not dot or only == strategy:
            parsed[key.replace("-", "_")] = value.strip()
    config = StrategyConfig(budget=budget, sampling=SamplingParams(temperature=temperature, max_tokens=max_tokens),
                            options=parsed)
    config.parse(entry(strategy).options, strategy)  # a bad option is an error before any model loads
    return config


def _budgets(text: str) -> list[int]:
    try:
        budgets = [int(b) for b in text.split(",") if b.strip()]
    except ValueError:
        raise InvalidArgumentError(f"invalid value for '--budget': {text!r} is not an integer or a comma-separated "
                                   "list of integers") from None
    if not budgets or min(budgets) < 1:
        raise InvalidArgumentError(f"budget={min(budgets, default=0)} must be >= 1")
    return budgets
