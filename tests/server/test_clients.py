"""What real clients send and read, against a real ponder serve of the thinking model on 127.0.0.1: LangChain's
ChatOpenAI (invoke with content parts, stream) and litellm (completion, streamed). Each gets only the answer as
content, the reasoning where it reads it (litellm: `reasoning_content`), and the reasoning tokens in its usage."""

import pytest
from conftest import serve

# litellm's own types warn when pydantic builds them, on import
pytestmark = pytest.mark.filterwarnings("ignore:Items? .* using the `ReadOnly` qualifier:UserWarning")

QUESTION = "Mia has 23 pens. She buys 15 more. How many pens does she have now?"


@pytest.fixture(scope="module")
def url():
    yield from serve("--model", "ponder-arith-think")


@pytest.mark.parametrize("model", ["ponder-arith-think", "vote@4/ponder-arith-think"])
def test_langchain_chat_openai_invokes_with_content_parts_and_streams(url, model):
    langchain_openai = pytest.importorskip("langchain_openai")
    from langchain_core.messages import HumanMessage

    llm = langchain_openai.ChatOpenAI(base_url=f"{url}/v1", api_key="none", model=model, seed=1, max_retries=0,
                                      stream_usage=True)
    reply = llm.invoke([HumanMessage(content=[{"type": "text", "text": QUESTION}])])
    assert reply.content.strip() == "Answer: 38"  # the answer alone: no think block, no markers
    usage = reply.usage_metadata
    assert 0 < usage["output_token_details"]["reasoning"] < usage["output_tokens"]
    chunks = list(llm.stream(QUESTION))
    assert "".join(c.content for c in chunks) == reply.content
    streamed = sum(chunks[1:], chunks[0]).usage_metadata
    assert streamed["output_tokens"] == usage["output_tokens"]
    assert streamed["output_token_details"]["reasoning"] == usage["output_token_details"]["reasoning"]


@pytest.mark.parametrize("model", ["ponder-arith-think", "vote@4/ponder-arith-think"])
def test_litellm_reads_reasoning_content_apart_from_the_answer(url, model, monkeypatch):
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch of its price list from the internet
    litellm = pytest.importorskip("litellm")
    asked = dict(model=f"openai/{model}", api_base=f"{url}/v1", api_key="none", seed=1,
                 messages=[{"role": "user", "content": QUESTION}])
    reply = litellm.completion(**asked)
    message = reply.choices[0].message
    assert message.content.strip() == "Answer: 38" and "=" in message.reasoning_content
    assert "think>" not in message.content + message.reasoning_content
    assert 0 < reply.usage.completion_tokens_details.reasoning_tokens < reply.usage.completion_tokens
    chunks = list(litellm.completion(**asked, stream=True))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(d.content or "" for d in deltas) == message.content
    assert "".join(getattr(d, "reasoning_content", None) or "" for d in deltas) == message.reasoning_content
