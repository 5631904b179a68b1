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
                 "beam | particle | spec-reason | nothink-vote | budget-forcing (docs/strategies.md) | auto (a probe, "
                 "then what a policy fitted by ponder tune says pays: docs/compute-optimal.md)")
VERIFIER_HELP = ("For the strategies that use one: best-of-n and weighted-vote (any), beam and particle (a step "
                 "verifier). arith-steps (re-computes each equation), orm (the shipped reward model; orm:MODEL for "
                 "another), judge (the model grades the candidates).")
DRAFT_HELP = ("A smaller model with the same tokenizer: the step writer of spec-reason; with any other strategy, "
              "speculative decoding inside the engine (the same output distribution, faster).")
REPLICAS_HELP = ("Run on this many replicas of the model, Ray actors (pip install 'ponder[ray]'), each with an "
                 "equal share of the cluster's CPUs.")
RAY_ADDRESS_HELP = ("The Ray cluster for --replicas: local (default: start one on this machine), auto (the running "
                    "one), or ray://HOST:PORT.")
THINKING_BUDGET_HELP = ("A thinking model's most reasoning tokens per sample: at the budget the engine writes its end "
                        "marker (</think>) and the sample goes on to answer (the local engine only).")
MIN_THINKING_HELP = ("s1's budget forcing: an end marker the model writes before this many reasoning tokens is "
                     "replaced by 'Wait', and it thinks on (the local engine only).")
NO_THINKING_HELP = ("A thinking model answers at once: its chat template closes the think block empty (Qwen3's "
                    "convention).")
ANSWER_RESERVE_HELP = ("Tokens of --max-tokens kept for the answer: a thinking trace that runs into them is closed "
                       "so the sample still answers. 0: plain truncation, no recovery. Default: min(64, "
                       "max-tokens/4).")
MARKERS_HELP = ("START,END: the markers a thinking model writes its reasoning between, e.g. '<think>,</think>' "
                "(default: the tokenizer's <think> and </think> where it has them as tokens; a model without "
                "them does not think).")
TEMPERATURE_HELP = ("Sampling temperature; 0 is greedy. Default: the model's own, where its generation_config.json "
                    "sets one (as vLLM's --generation-config auto; ponder-arith-think: 0.8), else 0.7.")
TOP_P_HELP = "Nucleus sampling: keep the most likely tokens up to this much probability. Default: the model's, else 1."
TOP_K_HELP = "Keep only the k most likely tokens (0: all). Default: the model's, else 0."
MIN_P_HELP = "Drop tokens less likely than this share of the most likely one. Default: the model's, else 0."
OPTION_HELP = ("A strategy option, KEY=VALUE (repeatable), e.g. --option confidence=0.99 for adaptive-vote; "
               "STRATEGY.KEY=VALUE sets it for that strategy only (in a grid).")
MAX_TOTAL_TOKENS_HELP = ("The most tokens a question's run may generate, every sample counted: never exceeded (each "
                         "sample reserves its --max-tokens; fewer or shorter samples where not all fit). The run "
                         "then answers with what it has, stop_reason \"tokens\".")
DEADLINE_HELP = ("Seconds a question's run may take: at the deadline its samples are aborted and it answers with "
                 "what it has (the vote of finished samples, else an answer written at once after the longest "
                 "partial trace), stop_reason \"deadline\".")
MAX_COST_HELP = ("The most dollars a question's run may spend, priced by --prices: never exceeded; stop_reason "
                 "\"cost\" where it stopped the run.")
PRICES_HELP = ('A JSON price table, {"MODEL": {"prompt": D, "generated": D}} in dollars per million tokens ("*": '
               "any other model): every Result then reports its cost.")


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


def _sampling(model: str, backend: str = "local", max_tokens: int = 256, temperature: float | None = None,
              top_p: float | None = None, top_k: int | None = None, min_p: float | None = None,
              thinking_budget: int | None = None, min_thinking_tokens: int | None = None, no_thinking: bool = False,
              answer_reserve: int | None = None) -> dict:
    """The SamplingParams fields the command line asks for. Sampling: ponder's default temperature, then what the
    model's generation_config.json recommends (a local model), then the options given. Thinking: the options
    given only (those left out keep SamplingParams' defaults and stay out of a run folder's manifest, so a run of
    an earlier version resumes)."""
    from ponder.backends.base import SamplingParams
    from ponder.models import sampling_defaults

    given = dict(temperature=temperature, top_p=top_p, top_k=top_k, min_p=min_p, thinking_budget=thinking_budget,
                 min_thinking_tokens=min_thinking_tokens, enable_thinking=False if no_thinking else None,
                 answer_reserve=answer_reserve)
    model_defaults = sampling_defaults(model) if backend == "local" else {}
    return {"temperature": SamplingParams.temperature, "max_tokens": max_tokens, **model_defaults,
            **{key: value for key, value in given.items() if value is not None}}


def _markers(text: str | None):
    """--reasoning-markers START,END as ReasoningMarkers (None: the model's own)."""
    from ponder.reasoning import ReasoningMarkers

    return ReasoningMarkers.parse(text) if text is not None else None


def _limits(max_total_tokens: int | None = None, deadline: float | None = None, max_cost: float | None = None,
            prices: str | None = None):
    """--max-total-tokens, --deadline, --max-cost and --prices as the strategies' Limits (checked now)."""
    from ponder.strategies.limits import Limits, Prices

    return Limits(max_total_tokens, deadline, max_cost, Prices.load(prices) if prices is not None else None)


def _strategy_config(strategy: str, budget: int, sampling: dict, options: list[str] | None = None, limits=None):
    """The strategy's config (`sampling`: SamplingParams fields, see `_sampling`; `limits`: see `_limits`); every
    name and value checked before a model is loaded."""
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
    config = StrategyConfig(budget=budget, sampling=SamplingParams(**sampling), options=parsed,
                            **({"limits": limits} if limits is not None else {}))
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
