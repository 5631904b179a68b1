"""Allocation across a batch (`ponder eval --tokens-per-problem B`): an average of B generated tokens per problem over
the whole dataset, not a cap per problem, spent where the vote is still open (Damani et al., 2024: adaptive
allocation reaches equal quality with up to half the compute).

Rounds. The first gives every problem `first` samples. Each later round takes its share of what is left of the
budget (what is left / the rounds left) and gives it to the problems in proportion to how open their vote is: 1 -
the Beta rule's probability that the leading answer is the mode (at most 0.5, for an even split), and nothing
once that probability reaches adaptive-vote's default confidence (the vote adaptive-vote would stop on is
settled: two agreeing samples already are); a problem whose samples have given no answer at all counts 0.25
(hopeless and unsettled alike look so: each gets a little, not a lot). A problem's share, in samples, is its share
of the round's tokens over the mean tokens of its samples so far (a contested problem's traces run longer: priced
at the batch's mean, the rounds overspent by 2%). The answer is each problem's vote over all its samples.

Many small rounds, not a few large ones: a round's samples are given on what the votes said before it, so the
more rounds, the sooner a problem that settles stops drawing. Replayed on seed 4's pool of 32 samples (ten
shuffles of each problem's samples, 656 tokens a problem): 4 rounds 92.1%, 8 92.5%, 16 93.3%, and 16 with the
settled problems left out 93.9% (vote@8: 90.7%); chosen there, measured on seed 5 (docs/compute-optimal.md).

    summary = allocate("arith", problems, runtime, tokens_per_problem=640, sampling=SamplingParams(), seed=5)
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import replace

from ponder.backends.base import SamplingParams
from ponder.eval.records import Record
from ponder.eval.runner import grade_answer, summarize
from ponder.seeds import derive_seed
from ponder.strategies.adaptive_vote import Options as AdaptiveVote
from ponder.strategies.adaptive_vote import beta_rule
from ponder.strategies.base import Candidate, majority, tally


SETTLED = AdaptiveVote().confidence


def openness(candidates: list[Candidate]) -> float:
    """How open a problem's vote still is: 1 - P(the leader is the mode), 0 once adaptive-vote would stop on it,
    0.25 where nothing has answered."""
    votes = [v.weight for v in tally(candidates)]
    if not votes:
        return 0.25
    certainty = beta_rule(votes)
    return 0.0 if certainty >= SETTLED else 1.0 - certainty


def shares(open_: list[float], tokens: float, sample_tokens: list[float]) -> list[int]:
    """Samples for each problem from a round's `tokens`: in proportion to how open each is, each sample priced at
    that problem's mean tokens a sample so far (contested problems write longer traces), rounded so the round
    spends no more than it has (largest remainders first)."""
    total = sum(open_)
    if total <= 0:
        return [0] * len(open_)
    exact = [tokens * o / total / t for o, t in zip(open_, sample_tokens)]
    counts = [math.floor(x) for x in exact]
    room = tokens - sum(c * t for c, t in zip(counts, sample_tokens))
    for i in sorted(range(len(exact)), key=lambda i: exact[i] - counts[i], reverse=True):
        if sample_tokens[i] <= room:
            counts[i] += 1
            room -= sample_tokens[i]
    return counts


def allocate(task: str, problems, runtime, tokens_per_problem: float, sampling: SamplingParams, seed: int = 0,
             rounds: int = 16, first: int = 2, records=None, progress=None, **meta):
    """The Summary of the batch's answers (strategy "allocate", budget: the tokens per problem); each problem's
    record appended to `records` (a RecordFile) at the end (a batch's rounds depend on every problem: it does
    not resume part way)."""
    say = progress or (lambda text: None)
    generator = runtime.generator
    candidates = {p.id: [] for p in problems}
    spent = {p.id: {"prompt": 0, "generated": 0, "reasoning": 0} for p in problems}
    started = time.perf_counter()

    async def draw(problem, n: int, round_: int):
        if n < 1:
            return
        params = replace(sampling, n=n, seed=derive_seed(seed, problem.id, "allocate", round_))
        stream = await generator.submit(problem.prompt(), params)
        for sample in await stream.collect():
            candidates[problem.id].append(Candidate(sample.text, problem.extract(sample.content), sample.tokens,
                                                    sample.finish_reason, sample.logprob,
                                                    reasoning_tokens=sample.reasoning_tokens))
        for key in ("prompt", "generated", "reasoning"):
            spent[problem.id][key] += getattr(stream.usage, key)

    async def round_of(counts, round_):
        await asyncio.gather(*(draw(p, n, round_) for p, n in zip(problems, counts)))

    budget = tokens_per_problem * len(problems)
    asyncio.run(round_of([first] * len(problems), 0))
    for r in range(1, rounds):
        used = sum(s["generated"] for s in spent.values())
        mean = used / max(sum(len(c) for c in candidates.values()), 1)  # for a problem with no samples yet
        sample_tokens = [max(spent[p.id]["generated"] / len(candidates[p.id]), 1) if candidates[p.id] else mean
                         for p in problems]
        counts = shares([openness(candidates[p.id]) for p in problems], (budget - used) / (rounds - r), sample_tokens)
        say(f"round {r}: {sum(counts)} samples to {sum(c > 0 for c in counts)} problems "
            f"({used / len(problems):.0f} of {tokens_per_problem:.0f} tokens a problem spent)")
        asyncio.run(round_of(counts, r))
    wall = time.perf_counter() - started
    done = []
    for p in problems:
        answer, votes = majority(candidates[p.id])
        tokens = {**spent[p.id], "answer": spent[p.id]["generated"] - spent[p.id]["reasoning"],
                  "by_model": {generator.name: dict(spent[p.id])}}
        done.append(Record(key=f"allocate@{tokens_per_problem:g}/{p.id}", id=p.id, level=p.level,
                           reference=p.answer, answer=answer, correct=asyncio.run(grade_answer(p, answer)),
                           samples=len(candidates[p.id]), tokens=tokens, stop_reason="allocated", wall_s=0.0,
                           votes=votes, details={}, candidates=[c.text for c in candidates[p.id]]))
        if records is not None:
            records.append(done[-1])
    return summarize(done, task=task, strategy="allocate", budget=round(tokens_per_problem), wall_s=wall,
                     new=len(done), concurrency=len(problems), temperature=sampling.temperature, verifier=None,
                     seed=seed, options={"rounds": rounds, "first": first}, **meta)
