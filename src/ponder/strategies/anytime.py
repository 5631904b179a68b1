"""A run under limits (limits.py) and its anytime answer: what `Strategy.__call__` runs when a config has limits.

    result = await run_limited(vote.run, problem, generator, None, StrategyConfig(limits=Limits(deadline=2.0)))

Every Session of the run admits samples as the limits allow (Spend, through a context variable). When the run ends,
every stream still running is aborted (a strategy cut off mid-way may leave some: a beam's other expansions). Where
a limit stopped or cut the run, its Result says which (`stop_reason`) and holds its best answer so far: the
strategy's own where a sample that finished gave it (not one the limit cut off, whose text stops anywhere); else
the vote of the samples that finished; else an answer written at once after the longest partial trace.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from ponder.backends.base import Generator, Stream, reasoning_split
from ponder.strategies.base import Candidate, Result, Session, StrategyConfig, majority
from ponder.strategies.limits import ANSWER_TOKENS, RUN, LimitReached, Spend
from ponder.verifiers.base import Problem


async def run_limited(run, problem: Problem, generator: Generator, verifier, config: StrategyConfig) -> Result:
    spend = Spend(config.limits)
    token = RUN.set(spend)
    spend.start()
    try:
        try:
            result = await run(problem, generator, verifier, config)
        except LimitReached:
            result = None
        # nothing of the run goes on generating past its Result
        await asyncio.gather(*(stream.abort() for stream in spend.streams if not stream.done))
        # a run that got fewer or shorter samples than it asked for was stopped by the limit, not by its own rule
        spend.stopped = spend.stopped or spend.cut
        if spend.stopped is not None:
            result = await _anytime(spend, result)
    finally:
        spend.close()
        RUN.reset(token)
    return result


async def _anytime(spend: Spend, result: Result | None) -> Result:
    session = spend.sessions[0]
    finished = [c for c in result.candidates if c.finish_reason != "abort"] if result is not None else []
    if result is not None and result.answer is not None and any(c.answer == result.answer for c in finished):
        result.stop_reason = spend.stopped
        return result
    candidates = finished
    if result is None:  # the strategy was cut off: its finished samples, read from the run's account
        for stream in spend.streams:
            for index, reason in stream.finish_reasons.items():
                if reason != "abort":
                    key = (id(stream), index)
                    candidates.append(session.candidate(stream.sample(index, "".join(spend.texts[key]),
                                                                      spend.logprobs[key], spend.reasoning[key])))
    answer, votes = majority(candidates)
    if answer is None:
        key = spend.longest()  # None: nothing started, the answer comes after the prompt alone
        stream = None if key is None else next(s for s in spend.streams if id(s) == key[0])
        forced = await answer_now(session, "".join(spend.texts[key]) if key else "", stream)
        candidates.append(forced)
        answer, votes = majority([forced])
    total = session.result(answer, candidates, spend.stopped, votes, **(result.details if result else {}))
    for other in spend.sessions[1:]:  # every session's spend (auto's probe, then its choice's), not the first's alone
        total.add_spend(other.tokens(), other.samples, other.config.limits.prices)
    return total


async def answer_now(session: Session, trace: str = "", stream: Stream | None = None) -> Candidate:
    """An answer written at once after `trace` (a sample of `stream`, unfinished; none: after the prompt): its think
    block closed, then "Answer:", greedily, in at most ANSWER_TOKENS tokens (what a run's limits keep for it).
    Through a generator that cannot continue a partial answer (a server without the model's chat template), the
    model answers the prompt with its thinking off instead."""
    generator, problem = session.generator, session.problem
    params = replace(session.config.sampling, n=1, temperature=0, max_tokens=ANSWER_TOKENS, thinking_budget=None,
                     min_thinking_tokens=0, min_tokens=0, keep_first=None, answer_reserve=0)
    if not getattr(generator, "continues", True):
        answer = await generator.submit(problem.prompt(), replace(params, enable_thinking=False))
        session.record(generator, answer)
        [sample] = await answer.collect()
        return Candidate(sample.text, problem.extract(sample.content), sample.tokens, sample.finish_reason,
                         sample.logprob)
    if stream is not None:
        markers, opened, trace = stream.markers, stream.opened, stream.prefix + trace
    else:
        markers, opened = reasoning_split(generator, problem.prompt(), session.config.sampling.enable_thinking)
    close = "\n" if trace and not trace.endswith("\n") else ""
    if markers is not None and (opened or markers.start in trace) and markers.end not in trace:
        close = markers.end + "\n\n"  # still thinking: the think block is closed first
    written = trace + close + "Answer:"
    answer = await generator.submit(problem.prompt(), replace(params, stop=("\n",)), written)
    session.record(generator, answer)
    [sample] = await answer.collect()
    return Candidate(written + sample.text, problem.extract("Answer:" + sample.text), sample.tokens,
                     sample.finish_reason, sample.logprob)
