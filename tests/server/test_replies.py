"""The one event source behind both reply forms, in-process (no HTTP): a request answered whole and the same
request streamed give the same texts, finish and stop reasons, usage, logprobs and ponder report."""

import asyncio
import json
import shutil

import pytest

from ponder.errors import InvalidArgumentError
from ponder.models import TYPICAL_REASONING, resolve
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
    """The body of the request, and the chunks of the same request streamed with its usage asked
    (`stream_options.include_usage`), after checking that it ends in the usage chunk, then [DONE]."""
    async def answer():
        body = await endpoint.create(serving, request_type(**fields))
        streamed = request_type(**fields, stream=True, stream_options={"include_usage": True})
        return body, "".join([line async for line in await endpoint.create(serving, streamed)])
    body, text = asyncio.run(answer())
    events = [event for event in text.split("\n\n") if event.startswith("data: ")]
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(event.removeprefix("data: ")) for event in events[:-1]]
    assert chunks[-1]["choices"] == [] and set(chunks[-1]) == {"id", "object", "created", "model", "choices", "usage"}
    assert all("usage" not in chunk for chunk in chunks[:-1])
    return body, chunks


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
    last = chunks[-2]  # the finish reasons and the report; then the usage alone
    assert [(c["finish_reason"], c["stop_reason"]) for c in last["choices"]] == \
        [(c["finish_reason"], c["stop_reason"]) for c in body["choices"]] == [("stop", "\n")] * 2
    assert chunks[-1]["usage"] == body["usage"] and body["usage"]["completion_tokens"] == 2 * len("7+5=12\n")
    assert last["ponder"] == body["ponder"] == {"strategy": "single", "budget": 1, "samples": 2}


def test_a_strategys_body_and_stream_agree_field_by_field(serving):
    prompt = f"<s><|user|>{QUESTION[0]['content']}<|assistant|>"
    body, chunks = both(serving, completions, CompletionRequest, model="vote@3/ponder-arith", prompt=prompt,
                        temperature=0, max_tokens=64)
    decided = [c for c in chunks if c["choices"] and c["choices"][0]["text"]]
    assert [c["choices"][0]["text"] for c in decided] == [body["choices"][0]["text"]]
    assert decided[0]["ponder"] == {"runs_decided": 1} and body["choices"][0]["text"].endswith("Answer: 12")
    last = chunks[-2]
    assert last["choices"] == [{"index": 0, "text": "", "finish_reason": "stop", "stop_reason": None,
                                "logprobs": None}]
    assert body["choices"][0]["finish_reason"] == "stop" and body["choices"][0]["logprobs"] is None
    assert chunks[-1]["usage"] == body["usage"]  # its runs are watched for progress; their tokens count the same
    assert body["usage"]["prompt_tokens"] == body["ponder"]["runs"][0]["tokens"]["prompt"] > 0
    for report in (last["ponder"], body["ponder"]):
        report["runs"][0].pop("wall_s")
    assert last["ponder"] == body["ponder"] and body["ponder"]["runs"][0]["samples"] == 3


def test_sampling_a_request_leaves_out_is_the_models_own_else_openais(serving, tmp_path):
    """As vLLM's --generation-config auto: temperature and top_p left out take the model's generation_config.json
    (its top_k too), else OpenAI's 1 and 1; what a request gives wins."""
    def sampling(serving, **fields):
        request = ChatCompletionRequest(model=serving.model, messages=QUESTION, **fields)
        return serving.plan(request, QUESTION, logprobs=None, max_tokens=None).config.sampling

    assert (sampling(serving).temperature, sampling(serving).top_p) == (1.0, 1.0)
    folder = tmp_path / "model"
    shutil.copytree(resolve("ponder-arith"), folder)
    (folder / "generation_config.json").write_text(json.dumps({"do_sample": True, "temperature": 0.6, "top_p": 0.95,
                                                               "top_k": 20}))
    with Runtime(Choice(model=str(folder)), plain=True) as runtime:
        own = Serving(runtime, Limits())
        assert (sampling(own).temperature, sampling(own).top_p, sampling(own).top_k) == (0.6, 0.95, 20)
        given = sampling(own, temperature=0, top_p=0.5)
        assert (given.temperature, given.top_p, given.top_k) == (0, 0.5, 20)


THINK = [{"role": "user", "content": "Mia has 23 pens. She buys 15 more. How many pens does she have now?"}]


@pytest.fixture(scope="module")
def thinking():
    with Runtime(Choice(model="ponder-arith-think"), plain=True) as runtime:
        yield Serving(runtime, Limits())


@pytest.mark.parametrize("model", ["ponder-arith-think", "vote@4/ponder-arith-think"])
def test_a_thinking_models_reasoning_is_apart_from_its_answer_streamed_or_not(thinking, model):
    """`reasoning` (vLLM's name) and `reasoning_content` (SGLang's, DeepSeek's) hold the think block, `content` the
    answer alone; streamed deltas add up to the same; usage counts the engine's reasoning tokens, the same both ways."""
    body, chunks = both(thinking, chat, ChatCompletionRequest, model=model, messages=THINK, seed=3)
    message = body["choices"][0]["message"]
    assert message["reasoning"] == message["reasoning_content"] and "=" in message["reasoning"]
    assert "<think>" not in message["content"] + message["reasoning"] and "</think>" not in message["content"]
    assert message["content"].strip().startswith("Answer:") and message["refusal"] is None
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("reasoning") or "" for d in deltas) == message["reasoning"]
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == message["reasoning"]
    assert "".join(d.get("content") or "" for d in deltas) == message["content"]
    progress = [c for c in chunks[:-1] if not c["choices"]]  # a strategy's progress chunks carry no text at all
    assert all(set(c) == {"id", "object", "created", "model", "choices", "ponder"} for c in progress)
    usage = body["usage"]
    reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
    assert chunks[-1]["usage"] == usage and 0 < reasoning < usage["completion_tokens"]
    if model.startswith("vote"):  # every sample's reasoning, as the strategy counted it
        assert reasoning == body["ponder"]["runs"][0]["tokens"]["reasoning"]
    else:  # the engine's own count: the tokens inside the think block, not its markers
        tokenizer = thinking.runtime.generator.tokenizer
        assert reasoning == len(tokenizer.encode(message["reasoning"], add_special_tokens=False))


def test_reasoning_effort_thinking_token_budget_and_enable_thinking_control_thinking(thinking):
    def usage(**fields):
        body, _ = both(thinking, chat, ChatCompletionRequest, model="ponder-arith-think", messages=THINK, seed=3,
                       **fields)
        return body["usage"]["completion_tokens_details"]["reasoning_tokens"], body["choices"][0]["message"]

    none, message = usage(reasoning_effort="none")
    assert none == 0 and message["reasoning"] is None and "Answer:" in message["content"]
    assert usage(chat_template_kwargs={"enable_thinking": False})[0] == 0
    assert usage(thinking_token_budget=3)[0] == 3
    assert usage(reasoning_effort="minimal")[0] <= round(0.5 * TYPICAL_REASONING["ponder-arith-think"])
    assert usage(reasoning_effort="high")[0] > none
    hidden = usage(include_reasoning=False)[1]
    assert "reasoning" not in hidden and "reasoning_content" not in hidden and "Answer:" in hidden["content"]


@pytest.mark.parametrize("fields, param", [
    ({"reasoning_effort": "high"}, "reasoning_effort"),  # ponder-arith does not think
    ({"reasoning_effort": "max"}, "reasoning_effort"),  # no budget to set, still refused, not ignored
    ({"thinking_token_budget": 8}, "thinking_token_budget"),
    ({"chat_template_kwargs": {"enable_thinking": False}}, "chat_template_kwargs.enable_thinking"),
    ({"chat_template_kwargs": {"tools_in_user_message": True}}, "chat_template_kwargs.tools_in_user_message"),
    ({"logit_bias": {"a": -100}}, "logit_bias"),  # keys are token ids
    ({"logit_bias": {"99999": 1}}, "logit_bias"),  # not in the vocabulary
    ({"stop_token_ids": [99999]}, "stop_token_ids"),
    ({"min_tokens": 20, "max_tokens": 10}, "min_tokens"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
    ({"response_format": {"type": "json_object"}}, "response_format"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
     "messages[0].content[0].type"),
    ({"messages": [{"role": "tool", "content": "42", "tool_call_id": "a"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": "7+5?", "name": "leo"}]}, "messages[0].name"),
    ({"stream_options": {"include_usage": True}}, "stream_options"),  # a stream's, asked without stream=true
])
def test_what_the_server_does_not_do_is_refused_naming_the_field(serving, fields, param):
    request = ChatCompletionRequest(**{"model": "ponder-arith", "messages": QUESTION, **fields})
    with pytest.raises(InvalidArgumentError) as caught:
        asyncio.run(chat.create(serving, request))
    assert caught.value.param == param and param.split("[")[0].split(".")[0] in str(caught.value)


def test_content_parts_developer_messages_truncation_and_unknown_fields_are_honoured(serving):
    """Text parts are joined (LangChain sends them); a developer or system message, which the shipped models'
    template has no role for, goes before the first user message; top_k and min_p reach the sampler; neutral values
    of fields ponder does not do are accepted; a field no endpoint reads is named in the report."""
    request = ChatCompletionRequest(model="ponder-arith", top_k=5, min_p=0.1, tool_choice="none", colour="red",
                                    messages=[
                                        {"role": "developer", "content": "Be brief."},
                                        {"role": "user", "content": [{"type": "text", "text": "Leo has 7 apples."},
                                                                     {"type": "text", "text": "How many?"}]}])
    plan = serving.plan(request, chat.messages(serving, request), logprobs=None, max_tokens=None)
    assert plan.prompt == [{"role": "user", "content": "Be brief.\n\nLeo has 7 apples.\nHow many?"}]
    assert (plan.config.sampling.top_k, plan.config.sampling.min_p) == (5, 0.1)
    body = asyncio.run(chat.create(serving, request))
    assert body["ponder"]["unknown_fields"] == ["colour"] and "reasoning" not in body["choices"][0]["message"]


def test_logit_bias_penalties_min_tokens_and_stop_token_ids_reach_the_sampler(serving):
    """The engine's sampler does what they ask (tests/engine/test_logits.py checks how), for a plain model and
    every sample of a strategy, streamed or not."""
    tokenizer = serving.runtime.generator.tokenizer
    plain, _ = both(serving, chat, ChatCompletionRequest, model="ponder-arith", messages=QUESTION, temperature=0)
    text = plain["choices"][0]["message"]["content"]  # "7+5=12\n...": one token a character
    plus, twelve = tokenizer.convert_tokens_to_ids("+"), tokenizer.convert_tokens_to_ids("2")
    for model in ("ponder-arith", "vote@4/ponder-arith"):
        banned, chunks = both(serving, chat, ChatCompletionRequest, model=model, messages=QUESTION, temperature=0.7,
                              seed=1, logit_bias={str(plus): -100})
        assert "+" in text and "+" not in banned["choices"][0]["message"]["content"]
        assert "+" not in "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        stopped, _ = both(serving, chat, ChatCompletionRequest, model=model, messages=QUESTION, temperature=0,
                          stop_token_ids=[twelve])
        assert stopped["usage"]["completion_tokens"] == len(text[:text.index("2") + 1]) * (4 if "@" in model else 1)
    stopped, _ = both(serving, chat, ChatCompletionRequest, model="ponder-arith", messages=QUESTION, temperature=0,
                      stop_token_ids=[twelve])
    assert stopped["choices"][0]["message"]["content"] == text[:text.index("2")]
    assert stopped["choices"][0]["finish_reason"] == "stop"
    longer, _ = both(serving, chat, ChatCompletionRequest, model="ponder-arith", messages=QUESTION, temperature=0,
                     min_tokens=len(text) + 10, max_tokens=len(text) + 20)
    assert longer["usage"]["completion_tokens"] >= len(text) + 10
    penalised, _ = both(serving, chat, ChatCompletionRequest, model="ponder-arith", messages=QUESTION, temperature=0,
                        repetition_penalty=5.0, frequency_penalty=2, presence_penalty=2)
    assert penalised["choices"][0]["message"]["content"] != text


def test_a_body_over_the_size_limit_is_413_before_it_is_read(serving):
    from fastapi.testclient import TestClient

    from ponder.server.app import create_app

    small = Serving(serving.runtime, Limits(max_request_bytes=2_000))
    client = TestClient(create_app(small))
    long = client.post("/v1/chat/completions", json={"model": "ponder-arith", "messages": [
        {"role": "user", "content": "7 " * 2_000}]})
    assert long.status_code == 413 and long.json()["error"]["code"] == "request_too_large"
    assert "--max-request-bytes" in long.json()["error"]["message"]
    assert client.post("/v1/chat/completions", json={"model": "ponder-arith", "messages": QUESTION,
                                                      "max_tokens": 4}).status_code == 200


def test_usage_bills_the_prompt_once_for_every_strategy_and_both_reply_forms(serving):
    """OpenAI's billing: `prompt_tokens` is the request's prompt once, whatever n or the strategy (adaptive-vote
    computes it once per wave, beam once per step: that is in the report); `completion_tokens` every token of every
    sample."""
    tokenizer = serving.runtime.generator.tokenizer
    prompt = len(tokenizer.encode(tokenizer.apply_chat_template(QUESTION, add_generation_prompt=True, tokenize=False),
                                  add_special_tokens=False))
    for model in ("ponder-arith", "vote@4/ponder-arith", "adaptive-vote@8/ponder-arith", "beam@4/ponder-arith"):
        fields = {"ponder": {"verifier": "arith-steps"}} if model.startswith("beam") else {}
        body, chunks = both(serving, chat, ChatCompletionRequest, model=model, messages=QUESTION, n=2, seed=5,
                            max_tokens=64, **fields)
        assert body["usage"]["prompt_tokens"] == chunks[-1]["usage"]["prompt_tokens"] == prompt, model
        if "runs" in body["ponder"]:
            assert body["usage"]["completion_tokens"] == sum(r["tokens"]["generated"] for r in body["ponder"]["runs"])
    text = "<s><|user|>Leo has 7 apples.<|assistant|>"
    echoed = asyncio.run(completions.create(serving, CompletionRequest(model="ponder-arith", prompt=text, echo=True,
                                                                       logprobs=0, max_tokens=4)))
    assert echoed["usage"]["prompt_tokens"] == len(tokenizer.encode(text, add_special_tokens=False))  # not twice


def test_text_offsets_point_into_the_text_past_the_special_tokens_it_leaves_out(serving):
    """A special token a sample generates (here a role token mid-text, and the end of sequence) is named in its
    logprobs but not in its text: it takes no characters there, so every later token's offset is still exact; an
    echoed prompt, sent as text, has its special tokens in the text."""
    prompt = "<s><|user|>Leo has 7 apples. He buys 5 more. How many?<|assistant|>"  # greedy writes <|assistant|>
    special = {"<s>", "</s>", "<|user|>", "<|assistant|>"}
    for echo in (False, True):
        body = asyncio.run(completions.create(serving, CompletionRequest(
            model="ponder-arith", prompt=prompt, temperature=0, logprobs=0, max_tokens=60, echo=echo)))
        text, logprobs = body["choices"][0]["text"], body["choices"][0]["logprobs"]
        pairs = list(zip(logprobs["text_offset"], logprobs["tokens"]))
        prompt_tokens = len(pairs) - body["usage"]["completion_tokens"]
        assert "<|assistant|>" in [t for _, t in pairs[prompt_tokens:]]
        for i, (offset, token) in enumerate(pairs):
            skipped = token in special and i >= prompt_tokens  # generated, and left out of the text
            assert (text[offset:offset + len(token)] == token) != skipped, (offset, token)


def test_a_strategy_request_caps_its_tokens_seconds_and_dollars(serving):
    """The `ponder` object's max_total_tokens, deadline and max_cost (priced by the server's table) reach the run:
    never over a cap, the limit named as the run's stop reason, and an answer all the same."""
    from ponder.strategies.limits import Prices

    priced = Serving(serving.runtime, Limits(), Prices.parse({"*": {"prompt": 1, "generated": 4}}))
    for limit, value, reason in (("max_total_tokens", 60, "tokens"), ("deadline", 0.005, "deadline"),
                                 ("max_cost", 0.0005, "cost")):
        body, chunks = both(priced, chat, ChatCompletionRequest, model="vote@8/ponder-arith", messages=QUESTION,
                            seed=2, ponder={limit: value})
        run = body["ponder"]["runs"][0]
        assert run["stop_reason"] == reason and run["answer"] is not None, (limit, run)
        assert chunks[-2]["ponder"]["runs"][0]["stop_reason"] == reason
        assert run["tokens"]["generated"] <= (60 if limit == "max_total_tokens" else 8 * 256 + 16)
        assert run["cost"] is not None and (run["cost"] <= 0.0005 or limit != "max_cost")
    for fields, param in (({"ponder": {"max_cost": 0.01}}, "ponder.max_cost"),):  # no price table on `serving`
        with pytest.raises(InvalidArgumentError) as caught:
            asyncio.run(chat.create(serving, ChatCompletionRequest(model="vote@2/ponder-arith", messages=QUESTION,
                                                                   **fields)))
        assert caught.value.param == param
    with pytest.raises(InvalidArgumentError, match="are a strategy's; name a strategy too"):
        asyncio.run(chat.create(serving, ChatCompletionRequest(model="ponder-arith", messages=QUESTION,
                                                               ponder={"deadline": 1})))


def test_a_request_names_no_file_of_the_servers(serving):
    """auto's policy is the served model's own: a request may not have the server read a file of its choosing."""
    request = ChatCompletionRequest(model="auto@4/ponder-arith", messages=QUESTION,
                                    ponder={"options": {"policy": "/etc/passwd"}})
    with pytest.raises(InvalidArgumentError) as caught:
        asyncio.run(chat.create(serving, request))
    assert caught.value.param == "ponder.options.policy" and "no file" in str(caught.value)
