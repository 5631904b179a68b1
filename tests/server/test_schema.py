"""ponder serve's replies against OpenAI's published schemas (openai_schema/, vendored from openai/openai-openapi):
chat completions whole and streamed, of a plain thinking model and of a strategy, and text completions, with
logprobs. Fields ponder adds (`ponder`, `stop_reason`, `reasoning`) are extra properties, which the schemas allow."""

import asyncio
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from ponder.runtime import Choice, Runtime
from ponder.server import chat, completions
from ponder.server.protocol import ChatCompletionRequest, CompletionRequest
from ponder.server.serving import Limits, Serving

QUESTION = [{"role": "user", "content": "Mia has 23 pens. She buys 15 more. How many pens does she have now?"}]


def nullable(schema):
    """The spec marks some fields `nullable: true`, OpenAPI 3.0's way, in a 3.1 document: as JSON Schema, null
    is then allowed too."""
    if isinstance(schema, list):
        return [nullable(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {key: nullable(value) for key, value in schema.items()}
    if schema.pop("nullable", False):
        return {"anyOf": [schema, {"type": "null"}]}
    return schema


SPEC = nullable(json.loads((Path(__file__).parent / "openai_schema" / "schemas.json").read_text()))


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator({**SPEC, "$ref": f"#/components/schemas/{name}"})


@pytest.fixture(scope="module")
def serving():
    with Runtime(Choice(model="ponder-arith-think"), plain=True) as runtime:
        yield Serving(runtime, Limits())


def replies(serving, endpoint, request_type, **fields) -> tuple[dict, list[dict]]:
    async def answer():
        body = await endpoint.create(serving, request_type(**fields))
        lines = [line async for line in await endpoint.create(serving, request_type(**fields, stream=True))]
        return body, lines
    body, lines = asyncio.run(answer())
    return body, [json.loads(line.removeprefix("data: ")) for line in lines
                  if line.startswith("data: ") and line != "data: [DONE]\n\n"]


@pytest.mark.parametrize("model, fields", [
    ("ponder-arith-think", {"n": 2, "logprobs": True, "top_logprobs": 2, "stop": ["Answer"]}),
    ("vote@4/ponder-arith-think", {}),  # progress chunks, then the decided text
])
def test_chat_replies_and_chunks_validate_against_openais_schema(serving, model, fields):
    body, chunks = replies(serving, chat, ChatCompletionRequest, model=model, messages=QUESTION, seed=2, **fields)
    validator("CreateChatCompletionResponse").validate(body)
    assert len(chunks) >= 3  # the role, the text (decided or token by token), the finish; progress when slow
    for chunk in chunks:
        validator("CreateChatCompletionStreamResponse").validate(chunk)


def test_text_completions_validate_against_openais_schema(serving):
    prompt = "<s><|user|>Leo has 7 apples. He buys 5 more. How many apples does he have now?<|assistant|>"
    body, chunks = replies(serving, completions, CompletionRequest, model="ponder-arith-think", prompt=prompt,
                           max_tokens=24, logprobs=2, seed=2)
    validator("CreateCompletionResponse").validate(body)
    # OpenAI streams text completions in the same shape, a piece at a time, with finish_reason null until the last
    # piece (its own streams do; the schema, written for the whole response, has no null there)
    streamed = json.loads(json.dumps(SPEC))
    choice = streamed["components"]["schemas"]["CreateCompletionResponse"]["properties"]["choices"]["items"]
    choice["properties"]["finish_reason"] = {"anyOf": [choice["properties"]["finish_reason"], {"type": "null"}]}
    for chunk in chunks[:-1]:
        Draft202012Validator({**streamed, "$ref": "#/components/schemas/CreateCompletionResponse"}).validate(chunk)
    validator("CreateCompletionResponse").validate(chunks[-1])
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
