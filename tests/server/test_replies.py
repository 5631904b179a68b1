"""The one event source behind both reply forms, in-process (no HTTP): a request answered whole and the same
request streamed give the same texts, finish and stop reasons, usage, logprobs and ponder report."""

import asyncio
import json

import pytest

from ponder.runtime import Choice, Runtime
from ponder.server import chat, completions
from ponder.server.protocol import ChatCompletionRequest, CompletionRequest
from ponder.server.serving import Limits, Serving

QUESTION = [{"role": "user", "content": "Leo has 7 apples. He buys 5 more. How many apples does he have now?"}]


@pytest.fixture(scope="module")
def serving():
    with Runtime(Choice(model="ponder-arith"), plain=True) as runtime:
        yield Serving(runtime, Limits())


def both(serving, endpoint, request_type, **fields) -> tuple[dict, list[dict]]:
    """The body of the request, and the chunks of the same request streamed (after checking it ends in [DONE])."""
    async def answer():
        body = await endpoint.create(serving, request_type(**fields))
        lines = [line async for line in await endpoint.create(serving, request_type(**fields, stream=True))]
        return body, lines
    body, lines = asyncio.run(answer())
    assert lines[-1] == "data: [DONE]\n\n"
    return body, [json.loads(line.removeprefix("data: ")) for line in lines[:-1] if line.startswith("data: ")]


def test_a_plain_models_body_and_stream_agree_field_by_field(serving):
    body, chunks = both(serving, chat, ChatCompletionRequest, model="ponder-arith", messages=QUESTION, temperature=0,
                        stop=["\n"], logprobs=True, top_logprobs=2, n=2)
    assert chunks[0]["choices"] == [{"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
                                    for i in (0, 1)]
    for i, choice in enumerate(body["choices"]):
        pieces = [c["choices"][0] for c in chunks[1:-1] if c["choices"][0]["index"] == i]
        assert "".join(p["delta"].get("content", "") for p in pieces) == choice["message"]["content"] == "7+5=12"
        streamed = [entry for p in pieces if p.get("logprobs") for entry in p["logprobs"]["content"]]
        assert [e["token"] for e in streamed] == [e["token"] for e in choice["logprobs"]["content"]]
        assert [e["logprob"] for e in streamed] == pytest.approx([e["logprob"] for e in choice["logprobs"]["content"]],
                                                                  abs=1e-3)
    last = chunks[-1]
    assert [(c["finish_reason"], c["stop_reason"]) for c in last["choices"]] == \
        [(c["finish_reason"], c["stop_reason"]) for c in body["choices"]] == [("stop", "\n")] * 2
    assert last["usage"] == body["usage"] and body["usage"]["completion_tokens"] == 2 * len("7+5=12\n")
    assert last["ponder"] == body["ponder"] == {"strategy": "single", "budget": 1, "samples": 2}


def test_a_strategys_body_and_stream_agree_field_by_field(serving):
    prompt = f"<s><|user|>{QUESTION[0]['content']}<|assistant|>"
    body, chunks = both(serving, completions, CompletionRequest, model="vote@3/ponder-arith", prompt=prompt,
                        temperature=0, max_tokens=64)
    decided = [c for c in chunks if c["choices"] and c["choices"][0]["text"]]
    assert [c["choices"][0]["text"] for c in decided] == [body["choices"][0]["text"]]
    assert decided[0]["ponder"] == {"runs_decided": 1} and body["choices"][0]["text"].endswith("Answer: 12")
    last = chunks[-1]
    assert last["choices"] == [{"index": 0, "text": "", "finish_reason": "stop", "stop_reason": None}]
    assert body["choices"][0]["finish_reason"] == "stop" and body["choices"][0]["logprobs"] is None
    assert last["usage"] == body["usage"]  # the stream's runs are watched for progress; their tokens count the same
    assert body["usage"]["prompt_tokens"] == body["ponder"]["runs"][0]["tokens"]["prompt"] > 0
    for report in (last["ponder"], body["ponder"]):
        report["runs"][0].pop("wall_s")
    assert last["ponder"] == body["ponder"] and body["ponder"]["runs"][0]["samples"] == 3
