import pytest


@pytest.fixture(scope="session")
def target():
    """The shipped target model on ponder's engine behind the Generator protocol, loaded once for the session."""
    from ponder.backends.local import LocalGenerator

    generator = LocalGenerator("ponder-arith", seed=0)
    yield generator
    generator.close()
