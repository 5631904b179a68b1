import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest


@pytest.fixture(scope="session")
def target():
    """The shipped target model on ponder's engine behind the Generator protocol, loaded once for the session."""
    from ponder.backends.local import LocalGenerator

    generator = LocalGenerator("ponder-arith", seed=0)
    yield generator
    generator.close()


@pytest.fixture(scope="session")
def shared_data():
    """The benchmark files of ../shared/data (or $PONDER_DATA); tests that need them skip, saying why, without."""
    import os
    from pathlib import Path

    folder = Path(os.environ.get("PONDER_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    if not (folder / "README.md").is_file():
        pytest.skip(f"the benchmark files are not here ({folder}: set PONDER_DATA to the shared/data folder)")
    return folder


def serve(*args):
    """Start `ponder serve ARGS` on a free port of 127.0.0.1; yields its URL once it answers, then stops it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "ponder.cli", "serve", "--port", str(port), *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=1)
            break
        except (urllib.error.URLError, ConnectionError):
            if process.poll() is not None:
                raise RuntimeError(process.stderr.read())
            time.sleep(0.2)
    try:
        yield url
    finally:  # a failed test too (a generator's loop left by an exception is closed here)
        process.terminate()
        process.wait(timeout=30)
