"""Verifiers: answer extraction and equivalence (answer.py), a step checker for arith (arith_steps.py), and
more to come (an outcome reward model, an LLM judge). Each scores candidate solutions; `load` builds one by name."""

from ponder.verifiers.arith_steps import ArithSteps
from ponder.verifiers.base import StepVerifier, Verifier

VERIFIERS = ("arith-steps",)


def load(name: str, *, device: str = "cpu") -> Verifier:
    """The verifier called `name`."""
    from ponder.errors import InvalidArgumentError

    if name == "arith-steps":
        return ArithSteps()
    raise InvalidArgumentError(f"unknown verifier {name!r}; choose from {list(VERIFIERS)}")


__all__ = ["VERIFIERS", "ArithSteps", "StepVerifier", "Verifier", "load"]
