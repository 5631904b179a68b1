"""ponder's exceptions: one tree, each class carrying how it reaches a user: its HTTP status (and OpenAI error type)
for the server, its exit code for the command line. Bad input is the caller's to fix (400, exit 2); a failure of
the engine, a backend or a replica is not (5xx, exit 1). Either way the user gets one line.

    PonderError                      500 server_error         exit 1
    ├── InvalidArgumentError         400 invalid_request_error exit 2
    │   └── ModelNotFoundError       404 invalid_request_error exit 2   (param: model)
    ├── OverloadedError              429 rate_limit_error      exit 1   (Retry-After)
    ├── EngineDeadError              503 server_error          exit 1
    ├── BackendError                 502 server_error          exit 1
    ├── ReplicasGone                 503 server_error          exit 1
    └── PeerMissing                  (a benchmark's peer is not installed: the benchmark is skipped, saying so)
"""

from __future__ import annotations


class PonderError(Exception):
    """Base class of every error ponder raises on purpose: something failed that the caller could not prevent."""

    code = "ponder_error"
    status = 500
    kind = "server_error"  # OpenAI's error `type`
    exit_code = 1
    param: str | None = None  # the request field at fault, where one is

    def __init__(self, message: str = "", param: str | None = None):
        super().__init__(message)
        if param is not None:
            self.param = param

    def to_dict(self) -> dict:
        """The error in OpenAI's shape: {"message", "type", "param", "code"}."""
        return {"message": str(self), "type": self.kind, "param": self.param, "code": self.code}


class InvalidArgumentError(PonderError, ValueError):
    """A value given by the caller is out of range or unknown; the message names it."""

    code = "invalid_argument"
    status = 400
    kind = "invalid_request_error"
    exit_code = 2


class ModelNotFoundError(InvalidArgumentError):
    """Neither a shipped model's name nor a folder with a Hugging Face model, or a model this server does not
    serve."""

    code = "model_not_found"
    status = 404
    param = "model"


class OverloadedError(PonderError):
    """Every slot is busy and the queue is full: retry shortly (HTTP 429, with Retry-After)."""

    code = "overloaded"
    status = 429
    kind = "rate_limit_error"


class EngineDeadError(PonderError):
    """The engine stopped (a failure inside a step, or closed); no request can run on it any more."""

    code = "engine_dead"
    status = 503


class BackendError(PonderError):
    """The server behind an OpenAI backend failed or could not be reached."""

    code = "backend_error"
    status = 502


class ReplicasGone(PonderError):
    """Every replica of a pool has died."""

    code = "replicas_gone"
    status = 503


class PeerMissing(PonderError):
    """A benchmark's peer is not installed and installing it was not asked for: the benchmark is skipped."""

    code = "peer_missing"
