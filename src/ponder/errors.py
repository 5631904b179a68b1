"""ponder's exceptions: one base class, each error able to describe itself for a CLI line or an HTTP body."""

from __future__ import annotations


class PonderError(Exception):
    """Base class of every error ponder raises on purpose."""

    code = "ponder_error"

    def to_dict(self) -> dict:
        return {"message": str(self), "type": type(self).__name__, "code": self.code}


class InvalidArgumentError(PonderError, ValueError):
    """A value given by the caller is out of range or unknown; the message names it."""

    code = "invalid_argument"


class ModelNotFoundError(InvalidArgumentError):
    """Neither a shipped model's name nor a folder with a Hugging Face model."""

    code = "model_not_found"
