"""Seeds derived from seeds: one function, so a run repeats exactly wherever its parts are seeded.

    derive_seed(run_seed, problem.id)        # a problem's sampling: the same whatever runs beside it
    derive_seed(seed, "submit", i)           # a strategy's i-th submission: fresh samples each time
    derive_seed(seed, "run", i)              # the i-th of n runs of one request
"""

from __future__ import annotations

import hashlib


def derive_seed(*parts: int | str) -> int:
    """A seed (a non-negative 62-bit integer) from `parts`: the same on every machine and run (sha256 of their
    text joined by "/", unlike Python's hash, which salts strings per process), and unrelated for different parts.

    Example:
        >>> derive_seed(0, "arith-1-17") == derive_seed(0, "arith-1-17") != derive_seed(1, "arith-1-17")
        True
    """
    text = "/".join(str(part) for part in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 2
