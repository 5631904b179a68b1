"""Generators: the models strategies sample from, behind one protocol (base.py), and the one place that builds
them from a backend name (the command line and the replicas of distributed/ both do)."""

from __future__ import annotations

import os

from ponder.errors import InvalidArgumentError, PonderError


def load_generators(backend: str, model: str, seed: int, device: str, draft: str | None, strategy: str):
    """The model's generator on `backend` (local: ponder's engine; a URL: an OpenAI-compatible server), and the
    draft's for spec-reason (any other strategy runs the draft inside the engine, as speculative decoding)."""
    remote = check_backend(backend, draft, strategy)
    from ponder.backends.local import LocalGenerator

    if strategy == "spec-reason":  # the target scores the draft's steps: locally, or over HTTP by echo
        target = remote_generator(backend, model) if remote else LocalGenerator(model, seed=seed, device=device)
        return target, LocalGenerator(draft, seed=seed + 1, device=device)
    if remote:
        return remote_generator(backend, model), None
    return LocalGenerator(model, seed=seed, device=device, draft=draft), None


def check_backend(backend: str, draft: str | None, strategy: str) -> bool:
    """What load_generators checks before it loads anything; whether the backend is a remote server."""
    remote = backend.startswith(("http://", "https://"))
    if not remote and backend != "local":
        raise InvalidArgumentError(f"unknown backend {backend!r}; give local or a server's URL (http://...)")
    if strategy == "spec-reason" and draft is None:
        raise InvalidArgumentError("spec-reason needs a draft model (--draft), e.g. --draft ponder-arith-draft")
    if remote and draft is not None and strategy != "spec-reason":
        raise InvalidArgumentError("--draft with a remote backend is spec-reason's (local) step writer; speculative "
                                   "decoding is the server's own business")
    return remote


def remote_generator(url: str, model: str):
    """A Generator over the OpenAI-compatible server at `url`, asked for `model`; a model ponder can load here
    (shipped, or a folder) also lends its chat template, so step-wise strategies can continue partial answers."""
    from ponder.backends.openai import OpenAIGenerator
    from ponder.models import resolve

    try:
        resolve(model)
        template = model
    except PonderError:
        template = None
    base = url.rstrip("/")
    return OpenAIGenerator(base if base.endswith("/v1") else f"{base}/v1", model,
                           api_key=os.environ.get("PONDER_BACKEND_API_KEY", "-"), chat_template=template)


