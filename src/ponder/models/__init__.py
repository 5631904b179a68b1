"""The embedded models ponder ships (trained by `ponder train`, see each folder's card.md), found by name."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from ponder.errors import InvalidArgumentError, ModelNotFoundError

LANGUAGE_MODELS = ("ponder-arith", "ponder-arith-draft", "ponder-arith-think", "ponder-arith-think-draft")
REWARD_MODELS = ("ponder-arith-orm",)  # sequence classifiers (verifiers/orm.py)
SHIPPED = LANGUAGE_MODELS + REWARD_MODELS
DEFAULT_MODEL = "ponder-arith"
THINKING_MODEL = "ponder-arith-think"  # thinks in <think> ... </think>, then answers (make demo shows it)


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


def check_causal_lm(folder: str | Path) -> None:
    """Refuse a model folder whose config.json names only architectures that do not generate (a reward model, a
    classifier, a bare encoder): transformers would load it as a causal LM with a fresh, random head, and it
    would write garbage. A config that names no architecture is left to transformers to judge."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    folder = Path(folder)
    try:
        architectures = json.loads((folder / "config.json").read_text()).get("architectures") or []
    except (OSError, ValueError):
        return  # missing or malformed: loading it reports that
    causal = set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())
    if not architectures or any(a in causal or a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures):
        return
    names = ", ".join(architectures)
    if any(a.endswith("ForSequenceClassification") for a in architectures):
        use = "orm" if folder.name in REWARD_MODELS else f"orm:{folder}"
        raise InvalidArgumentError(f"{folder.name} is a reward model ({names}); use it as --verifier {use}")
    raise InvalidArgumentError(f"{folder.name} is not a causal language model ({names}); it cannot generate")
