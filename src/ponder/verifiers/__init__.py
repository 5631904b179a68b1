"""Verifiers: answer extraction and equivalence (answer.py); a step checker for arith (arith_steps.py); an outcome
reward model (orm.py); an LLM judge (judge.py). Each scores candidate solutions; `load` builds one by name."""

from ponder.verifiers.arith_steps import ArithSteps
from ponder.verifiers.base import StepVerifier, Verifier

VERIFIERS = ("arith-steps", "orm", "judge")


def load(name: str, *, device: str = "cpu", generator=None) -> Verifier:
    """The verifier called `name`: "arith-steps"; "orm" (the shipped ponder-arith-orm) or "orm:MODEL" (a shipped
    name or a folder); "judge" (`generator` grades the candidates)."""
    from ponder.errors import InvalidArgumentError

    kind, _, model = name.partition(":")
    if kind == "arith-steps" and not model:
        return ArithSteps()
    if kind == "orm":
        from ponder.verifiers.orm import RewardModel

        return RewardModel(model or "ponder-arith-orm", device=device)
    if kind == "judge" and not model:
        if generator is None:
            raise InvalidArgumentError("the judge verifier needs a generator to grade with")
        from ponder.verifiers.judge import Judge

        return Judge(generator)
    raise InvalidArgumentError(f"unknown verifier {name!r}; choose from {list(VERIFIERS)} (or orm:MODEL)")


__all__ = ["VERIFIERS", "ArithSteps", "StepVerifier", "Verifier", "load"]
