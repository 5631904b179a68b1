"""spec-reason: speculative reasoning (Pan et al., 2025, "SpecReason"). A small draft model writes the reasoning
steps; the target model only reads them, and accepts a step when its own probability for it is high enough:
with `score="min"` (the default) its least likely token must have probability at least `threshold`, so one
wrong number is enough to reject the step; with `score="mean"` the geometric mean of the token probabilities,
exp(mean logprob), must be (lenient: one bad token in a long step is diluted). A step under the bar is thrown
away, with everything drafted after it, and the target writes that step itself; the draft goes on from there.

The steps are judged as in speculative decoding, a step instead of a token at a time: the draft writes on to
the end of the solution in one request, then the target reads every step it wrote in one pass, so a solution
whose steps are all accepted costs one draft request and one target pass. Each step is judged after the same
text as if drafted and judged one by one. The two models take turns rather than overlap: at batch 1 each
step of either is Python and op overhead, and two engine threads running at once slow each other down more
than the overlap gains (measured: a target pass took 34 ms beside the draft, 5-8 ms alone).

Unlike speculative decoding, this does not keep the target's distribution: it trades a little of the target's
accuracy for speed, and `threshold` sets the trade. The Result reports steps accepted and tokens per model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ponder.backends.base import Generator
from ponder.errors import InvalidArgumentError
from ponder.strategies.base import Partial, Problem, Result, Session, StrategyConfig, vote_counts
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


def step_probability(logprobs: list[float], score: str) -> float:
    if not logprobs:
        return 0.0
    return math.exp(min(logprobs) if score == "min" else sum(logprobs) / len(logprobs))


async def run(problem: Problem, generator: Generator, verifier: Verifier | None, config: StrategyConfig) -> Result:
    options = config.parse(Options, "spec-reason")
    if config.draft is None:
        raise InvalidArgumentError("spec-reason needs a draft model (--draft)")
    session = Session("spec-reason", problem, generator, config)
    solution, probabilities, accepted, rejected = Partial(), [], 0, 0
    while not solution.done and accepted + rejected < options.max_steps:
        solution, judged = await speculate(session, solution, options, config.draft,
                                           options.max_steps - accepted - rejected)
        probabilities += judged
        accepted += sum(p >= options.threshold for p in judged)
        if accepted + rejected == options.max_steps or judged and judged[-1] >= options.threshold:
            continue  # out of steps, or every step the draft wrote was accepted
        rejected += 1  # the target writes the step the draft got wrong (or did not write)
        [solution] = await session.expand(solution, 1, options.delimiter)
    candidate = session.finished(solution)
    return session.result(candidate.answer, [candidate], "solved" if solution.done else "max_steps",
                          vote_counts([candidate]), steps_accepted=accepted, steps_rewritten=rejected,
                          step_probabilities=probabilities)


async def speculate(session: Session, solution: Partial, options: Options, draft: Generator, room: int
                    ) -> tuple[Partial, list[float]]:
    """The draft writes on from `solution` (to the end, or `room` steps), then the target reads every step it
    wrote in one pass. Returns `solution` grown by the steps accepted, up to the first under the bar, and the
    probability of each step judged."""
    stream = await session.submit(1, prefix=solution.text, generator=draft)
    text = ""
    async for event in stream:
        text += event.text
        if text.count(options.delimiter) >= room:
            await stream.abort()  # enough steps; the rest would not be judged
    *steps, last = text.split(options.delimiter)
    steps = [step + options.delimiter for step in steps] + ([last] if last else [])  # the last: the end
    judged = []
    for step, logprobs in zip(steps[:room], await session.score(steps[:room], prefix=solution.text)):
        judged.append(round(step_probability(logprobs, options.score), 4))
        if judged[-1] < options.threshold:
            break
        solution = Partial(solution.text + step, not step.endswith(options.delimiter),
                           solution.tokens + len(logprobs), solution.logprob + sum(logprobs), step=step)
    return solution, judged
