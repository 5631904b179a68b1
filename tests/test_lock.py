"""requirements/lock.txt, the versions make demo / make test install: it must satisfy pyproject.toml, or the
install either fails or (for a package the lock lacks) takes whatever is newest, unlocked."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def locked() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements" / "lock.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)", line).groups()
            pins[canonicalize_name(name)] = version
    return pins


def test_the_lock_pins_every_requirement_of_ponder_and_its_test_extra_within_its_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = locked()
    for spec in project["dependencies"] + project["optional-dependencies"]["test"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in requirements/lock.txt: run make lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), \
            f"the lock's {requirement.name}=={pins[name]} is outside {spec}: run make lock"

