"""The composition root: what the user chose (backend, model, draft, verifier) checked and built once, with one
way in. The command line (solve, eval, demo), the server and each Ray replica build one; a
distributed.ReplicaPool offers the same face with its runs on replicas.

    runtime = Runtime(Choice(model="ponder-arith", verifier="arith-steps"), ["beam"])
    result = await runtime.solve(problem, "beam", StrategyConfig(budget=16))        # -> Result
    stream = await runtime.generator.submit(prompt, SamplingParams(n=4))            # plain sampling
    runtime.close()

What a strategy needs beyond the model is declared by its registry entry (strategies.Strategy): a verifier, a
draft that writes with a generator of its own, or no model at all. This module reads those declarations; it
never compares a strategy's name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Callable, Iterable

from ponder.backends.base import Generator
from ponder.errors import InvalidArgumentError, PonderError
from ponder.models import DEFAULT_MODEL
from ponder.reasoning import ReasoningMarkers
from ponder.seeds import derive_seed
from ponder.strategies import STRATEGIES, Result, Strategy, StrategyConfig
from ponder.tasks.base import Problem
from ponder.verifiers import VERIFIERS, StepVerifier, Verifier

Observe = Callable[[Generator], Generator]  # wraps the generator a run samples from (the live view, progress)


@dataclass(frozen=True)
class Choice:
    """What the user chose, as the command line and the server take it.

    Args:
        backend: "local" (ponder's engine) or an OpenAI-compatible server's URL.
        model: a shipped model's name or a Hugging Face folder (on a URL: the name the server serves).
        draft: a smaller model: the step writer of a strategy that declares `draft`, else speculative decoding
            inside the engine.
        verifier: the verifier of the strategies that use one (see verifiers.load).
        device: the torch device of local models.
        seed: seeds what the requests do not (the engine's rows, the draft's).
        reasoning_markers: how the models' samples split into reasoning and content, and where the engine's
            thinking control acts (None: each model's tokenizer's, see reasoning.markers_of).
    """

    backend: str = "local"
    model: str = DEFAULT_MODEL
    draft: str | None = None
    verifier: str | None = None
    device: str = "cpu"
    seed: int = 0
    reasoning_markers: ReasoningMarkers | None = None

    @property
    def remote(self) -> bool:
        return self.backend.startswith(("http://", "https://"))


def plan(choice: Choice, strategies: Iterable[str], plain: bool = False) -> list[Strategy]:
    """The registry entries of `strategies`, once every name and pairing is checked, before anything loads: a
    strategy that needs a verifier or a draft has one, a verifier or a draft is used by some strategy (or by
    `plain` sampling: a sample pool's best@k, a server's requests), the backend is known and the models exist."""
    names = list(strategies)
    entries = [entry(name) for name in names]
    if not choice.remote and choice.backend != "local":
        raise InvalidArgumentError(f"unknown backend {choice.backend!r}; give local or a server's URL (http://...)")
    for name, each in zip(names, entries):
        needs(name, each, choice.verifier, choice.draft)
    if choice.verifier is not None:
        known_verifier(choice.verifier)
        if entries and not plain and all(each.verifier == "none" for each in entries):
            raise InvalidArgumentError(f"{', '.join(names)} uses no verifier; --verifier is for "
                                       f"{', '.join(n for n, e in STRATEGIES.items() if e.verifier != 'none')}")
    if choice.draft is not None and choice.remote and not any(each.draft for each in entries):
        raise InvalidArgumentError("--draft with a remote backend is a step writer of its own (spec-reason); "
                                   "speculative decoding is the server's own business")
    from ponder.models import resolve

    for name in (choice.draft, None if choice.remote else choice.model):
        if name is not None:
            resolve(name)  # a missing model is one clear error before anything loads
    return entries


def entry(strategy: str) -> Strategy:
    """The registry entry of `strategy`; an unknown name is an error that lists the known ones."""
    if strategy not in STRATEGIES:
        raise InvalidArgumentError(f"unknown strategy {strategy!r}; choose from {sorted(STRATEGIES)}")
    return STRATEGIES[strategy]


def needs(strategy: str, declared: Strategy, verifier: str | None, draft: str | None) -> None:
    """What `strategy`'s entry declares it cannot run without: a verifier (a step verifier), a draft."""
    if declared.verifier in ("required", "steps") and verifier is None:
        kind = "a process (step) verifier, e.g. --verifier arith-steps" if declared.verifier == "steps" else \
            "a verifier (--verifier)"
        raise InvalidArgumentError(f"{strategy} needs {kind}")
    if declared.draft and draft is None:
        raise InvalidArgumentError(f"{strategy} needs a draft model (--draft), e.g. --draft ponder-arith-draft")


def check(choice: Choice, strategy: str, verifier: str | None = None) -> tuple[Strategy, str | None]:
    """The entry of one run's `strategy` and the verifier it runs with: `verifier` (a request's own, refused where
    the strategy takes none), else the chosen one where the strategy uses one."""
    declared = entry(strategy)
    if verifier is not None:
        known_verifier(verifier)
        if declared.verifier == "none":
            raise InvalidArgumentError(f"{strategy} uses no verifier")
    name = verifier if verifier is not None else None if declared.verifier == "none" else choice.verifier
    needs(strategy, declared, name, choice.draft)
    return declared, name


def known_verifier(name: str) -> None:
    if name.partition(":")[0] not in VERIFIERS:
        raise InvalidArgumentError(f"unknown verifier {name!r}; choose from {list(VERIFIERS)} (or orm:MODEL)")


class Runtime:
    """The models a run needs, built once from `choice` for the `strategies` it will run (and for `plain`
    sampling: a sample pool, a server's requests, any strategy that needs nothing more); `solve` runs one.

    A strategy whose entry declares `draft` gets the draft as a generator of its own; with the others, a draft
    runs inside the engine (speculative decoding: the same samples, faster). With no strategy that asks for a
    model (reference) nothing is loaded.
    """

    def __init__(self, choice: Choice = Choice(), strategies: Iterable[str] = (), *, plain: bool = False):
        strategies = list(strategies)
        entries = plan(choice, strategies, plain)
        self.choice = choice
        self.generator: Generator | None = None
        self.drafter: Generator | None = None
        self._verifiers: dict[str, Verifier] = {}
        writes = any(entry.draft for entry in entries)  # the draft writes on its own: not inside the engine
        try:
            if plain or any(entry.model for entry in entries):
                self.generator = self._target(None if writes else choice.draft)
            if writes:
                from ponder.backends.local import LocalGenerator

                self.drafter = LocalGenerator(choice.draft, seed=derive_seed(choice.seed, "draft"),
                                              device=choice.device, reasoning_markers=choice.reasoning_markers)
            for name in strategies:  # as each will run, its verifier loaded: a bad pairing fails before any run
                self.check(name)
            if choice.verifier is not None:
                self.verifier(choice.verifier)
        except BaseException:
            self.close()
            raise

    def _target(self, speculative_draft: str | None) -> Generator:
        """The model's generator: ponder's engine, or a client of the server at the backend's URL."""
        if not self.choice.remote:
            from ponder.backends.local import LocalGenerator

            return LocalGenerator(self.choice.model, seed=self.choice.seed, device=self.choice.device,
                                  draft=speculative_draft, reasoning_markers=self.choice.reasoning_markers)
        return remote_generator(self.choice.backend, self.choice.model, self.choice.reasoning_markers)

    def verifier(self, name: str | None) -> Verifier | None:
        """The verifier called `name` (loaded once; a judge grades with this runtime's generator)."""
        if name is None:
            return None
        if name not in self._verifiers:
            from ponder.verifiers import load

            self._verifiers[name] = load(name, device=self.choice.device, generator=self.generator)
        return self._verifiers[name]

    def check(self, strategy: str, verifier: str | None = None) -> tuple[Strategy, str | None]:
        """The entry of `strategy` and the verifier it runs with: `verifier` (a request's own, refused where the
        strategy takes none), else the chosen one where the strategy uses one. Checked, the verifier loaded, as
        `solve` would run it, so a bad request fails before anything starts."""
        declared, name = check(self.choice, strategy, verifier)
        if declared.model and self.generator is None or declared.draft and self.drafter is None:
            raise InvalidArgumentError(f"{strategy} is not among the strategies this runtime was built for")
        if declared.verifier == "steps" and not isinstance(self.verifier(name), StepVerifier):
            raise InvalidArgumentError(f"{strategy} needs a process (step) verifier; {name} scores whole "
                                       "solutions only")
        return declared, name

    async def solve(self, problem: Problem, strategy: str, config: StrategyConfig, *, verifier: str | None = None,
                    observe: Observe | None = None) -> Result:
        """Run `strategy` on `problem`; `verifier` is a request's own (see `check`), `observe` wraps the generator
        the run samples from."""
        declared, name = self.check(strategy, verifier)
        generator = observe(self.generator) if observe is not None and self.generator is not None else \
            self.generator
        config = replace(config, draft=self.drafter if declared.draft else None)
        return await declared(problem, generator, self.verifier(name), config)

    def load(self) -> dict:
        """What the engine holds now (Generator.load: rows decoding and waiting, samples aborted, tokens)."""
        return self.generator.load() if self.generator is not None else {}

    def close(self) -> None:
        """Stop the engines' workers (before exiting, even on an error: a worker killed mid-step aborts)."""
        for generator in (self.generator, self.drafter):
            if generator is not None:
                generator.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def remote_generator(url: str, model: str, reasoning_markers: ReasoningMarkers | None = None) -> Generator:
    """A Generator over the OpenAI-compatible server at `url`, asked for `model`; a model ponder can load here
    (shipped, or a folder) also lends its chat template, so step-wise strategies can continue partial answers.
    `reasoning_markers` split its samples (None: the chat template model's, else `<think>`/`</think>`)."""
    from ponder.backends.openai import OpenAIGenerator
    from ponder.models import resolve

    try:
        resolve(model)
        template = model
    except PonderError:
        template = None
    base = url.rstrip("/")
    return OpenAIGenerator(base if base.endswith("/v1") else f"{base}/v1", model,
                           api_key=os.environ.get("PONDER_BACKEND_API_KEY", "-"), chat_template=template,
                           reasoning_markers=reasoning_markers)
