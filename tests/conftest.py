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
    """Start `ponder serve ARGS` on a free port of 127.0.0.1; yields its URL once it answers, then stops it (after a
    failed test too: a generator's loop left by an exception is closed, which stops it)."""
    from ponder.bench.peers import ponder_serve

    with ponder_serve(*args) as (url, _):
        yield url
