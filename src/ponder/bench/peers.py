"""The engines ponder is measured against, each in a virtual environment of its own (never in ponder's: they pin
other versions of what ponder uses), installed only when asked, and run as an OpenAI-compatible server.

    python = peers.find("llamacpp", install=True, progress=print)      # PeerMissing when absent and not asked
    with peers.serve("llamacpp", python, gguf_file, context=512) as url:
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
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ponder.errors import PonderError


class PeerMissing(PonderError):
    """The peer is not installed and installing it was not asked for: the benchmark is skipped, saying so."""

    code = "peer_missing"


@dataclass(frozen=True)
class Peer:
    name: str
    requirement: str  # what pip installs, pinned
    module: str  # what imports once it is installed
    cost: str  # what installing it takes, told before it starts
    neutral: dict  # request fields that make its server sample from the model's own distribution


PEERS = {
    # llama-cpp-python's server samples with repeat_penalty 1.1, top_k 40 and min_p 0.05 unless told otherwise
    "llamacpp": Peer("llamacpp", "llama-cpp-python[server]==0.3.36", "llama_cpp",
                     "builds llama.cpp from source: about 20 minutes on 2 cores",
                     {"repeat_penalty": 1.0, "top_k": 0, "min_p": 0.0}),
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
        raise PeerMissing(f"skipped: {peer.requirement} is not installed in {home(name)}; "
                          f"add --install to install it there ({peer.cost})")
    if progress:
        progress(f"installing {peer.requirement} into {home(name)} ({peer.cost})")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(home(name))], check=True)
    env = {**os.environ, "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 2)}
    proc = subprocess.run([str(python), "-m", "pip", "install", "--quiet", peer.requirement], env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0 or not _imports(python, peer.module):
        raise PonderError(f"installing {peer.requirement} failed: {(proc.stderr or proc.stdout)[-2000:]}")
    return python


def version(python: Path, module: str) -> str:
    return subprocess.run([str(python), "-c", f"import {module}; print({module}.__version__)"], capture_output=True,
                          text=True, check=True).stdout.strip()


@contextlib.contextmanager
def serve(name: str, python: Path, model_file: Path, context: int, threads: int | None = None):
    """The peer's OpenAI-compatible server on a free port of 127.0.0.1, serving `model_file`; yields its URL once
    it answers, and stops it after."""
    if name != "llamacpp":
        raise PonderError(f"no server recipe for peer {name!r}")
    port = free_port()
    # logits_all: the prompt's logprobs for echo (scoring); type_k/v 0: an f32 KV cache, as ponder's engine keeps;
    # interrupt_requests false: requests wait their turn (by default a new request cuts off the one running)
    command = [str(python), "-m", "llama_cpp.server", "--model", str(model_file), "--host", "127.0.0.1",
               "--port", str(port), "--n_ctx", str(context), "--logits_all", "true", "--type_k", "0", "--type_v", "0",
               "--interrupt_requests", "false", "--n_threads", str(threads or os.cpu_count() or 2),
               "--verbose", "false"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait(url + "/v1/models", server)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(url: str, server: subprocess.Popen, timeout: float = 120) -> None:
    """Until `url` answers; a server that exits first is an error with the end of what it said."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            if server.poll() is not None:
                raise PonderError(f"{server.args[0]} exited: {server.stderr.read()[-2000:]}")
            time.sleep(0.2)
    raise PonderError(f"the server did not answer {url} in {timeout:.0f} s")


def _imports(python: Path, module: str) -> bool:
    return python.is_file() and subprocess.run([str(python), "-c", f"import {module}"],
                                               capture_output=True).returncode == 0
