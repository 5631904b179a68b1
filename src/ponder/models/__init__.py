"""The embedded models ponder ships (trained by `ponder train`, see each folder's card.md), found by name."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ponder.errors import ModelNotFoundError

LANGUAGE_MODELS = ("ponder-arith", "ponder-arith-draft")
REWARD_MODELS = ("ponder-arith-orm",)  # sequence classifiers (verifiers/orm.py)
SHIPPED = LANGUAGE_MODELS + REWARD_MODELS
DEFAULT_MODEL = "ponder-arith"


def resolve(model: str) -> Path:
    """The folder of `model`: a shipped model's name or a path to a Hugging Face model folder."""
    if model in SHIPPED:
        return Path(str(resources.files("ponder.models") / model))
    path = Path(model).expanduser()
    if not path.is_dir():
        raise ModelNotFoundError(f"model {model!r} is neither a shipped model {list(SHIPPED)} nor a folder")
    if not (path / "config.json").is_file():
        raise ModelNotFoundError(f"model folder {str(path)!r} has no config.json (not a Hugging Face model)")
    return path
