"""spec-reason: speculative reasoning (Pan et al., 2025, "SpecReason"). A small draft model writes each
reasoning step; the target model only reads it, in one scoring pass, and accepts it when its own probability
for the step is high enough: with `score="min"` (the default) its least likely token must have probability at
least `threshold`, so one wrong number is enough to reject the step; with `score="mean"` the geometric mean of
the token probabilities, exp(mean logprob), must be (lenient: one bad token in a long step is diluted). A step
under the bar is thrown away and the target writes that step itself. Reading a step costs
the target one pass instead of one pass per token, so the more steps are accepted, the faster the answer.

Unlike speculative decoding, this does not keep the target's distribution: it trades a little of the target's
accuracy for speed, and `threshold` sets the trade. The Result reports steps accepted and tokens per model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ponder.backends.base import Generator
from ponder.errors import InvalidArgumentError
from ponder.strategies.base import Partial, Problem, Result, Session, StrategyConfig, majority
from ponder.verifiers.base import Verifier


@dataclass(frozen=True)
class Options:
    threshold: float = 0.1  # the target's probability a drafted step needs (see `score`)
    score: str = "min"  # "min": of its least likely token; "mean": the geometric mean over its tokens
    delimiter: str = "\n"
    max_steps: int = 24

    def check(self):
        if not 0 <= self.threshold <= 1 or self.max_steps < 1 or not self.delimiter:
            raise InvalidArgumentError("spec-reason needs threshold in [0, 1], max_steps >= 1 and a delimiter")
        if self.score not in ("min", "mean"):
            raise InvalidArgumentError(f"spec-reason score={self.score!r}; choose min or mean")


async def run(problem: Problem, generator: Generator, verifier: Verifier | None, config: StrategyConfig) -> Result:
    options = config.parse(Options, "spec-reason")
    if config.draft is None:
        raise InvalidArgumentError("spec-reason needs a draft model (--draft)")
    session = Session("spec-reason", problem, generator, config)
    solution, accepted, rejected, acceptance = Partial(), 0, 0, []
    while not solution.done and accepted + rejected < options.max_steps:
        [drafted] = await session.expand(solution, 1, options.delimiter, generator=config.draft)
        logprobs = await session.score(drafted.step, prefix=solution.text) if drafted.step else []
        if not logprobs:
            probability = 0.0
        elif options.score == "min":
            probability = math.exp(min(logprobs))
        else:
            probability = math.exp(sum(logprobs) / len(logprobs))
        acceptance.append(round(probability, 4))
        if probability >= options.threshold:
            accepted += 1
            solution = drafted
        else:
            rejected += 1
            [solution] = await session.expand(solution, 1, options.delimiter)  # the target writes it
    candidate = session.finished(solution)
    return session.result(candidate.answer, [candidate], "solved" if solution.done else "max_steps",
                          majority([candidate])[1], steps_accepted=accepted, steps_rewritten=rejected,
                          step_probabilities=acceptance)
