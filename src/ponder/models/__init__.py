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
# a thinking model's median reasoning tokens a trace (its card), what a request's reasoning_effort is relative to;
# a model not listed: TYPICAL_REASONING_TOKENS, a round figure for today's open reasoning models on hard problems
TYPICAL_REASONING = {"ponder-arith-think": 44}
TYPICAL_REASONING_TOKENS = 1024


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


SAMPLING_FIELDS = ("temperature", "top_p", "top_k", "min_p")  # what a generation_config.json may set for sampling


def sampling_defaults(model: str) -> dict:
    """The sampling a model's authors recommend, from its generation_config.json (as vLLM's `--generation-config
    auto` and transformers' `generate` read it; Qwen3 sets temperature 0.6, top_p 0.95, top_k 20): the fields of
    SAMPLING_FIELDS it sets, temperature 0 where it says `do_sample: false`. {} for a model with no such file
    or not on this machine (a server's model: the server applies its own)."""
    try:
        text = (resolve(model) / "generation_config.json").read_text()
    except (ModelNotFoundError, OSError):
        return {}
    try:
        config = json.loads(text)
    except ValueError:
        raise InvalidArgumentError(f"model {model!r}: generation_config.json is not valid JSON") from None
    defaults = {key: config[key] for key in SAMPLING_FIELDS if config.get(key) is not None}
    if config.get("do_sample") is False:
        defaults["temperature"] = 0.0
    return defaults


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
