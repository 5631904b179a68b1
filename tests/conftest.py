import pytest


@pytest.fixture(scope="session")
def target():
    """The shipped target model behind a Generator, loaded once for the session."""
    from ponder.backends.transformers import TransformersGenerator

    return TransformersGenerator("ponder-arith", seed=0)
