"""A real `ponder serve` on 127.0.0.1, driven with the official openai client: chat and completions, streamed and
not, n > 1, strategies chosen by model name and by extra_body, a bad API key, OpenAI-shaped errors, metrics,
clients that go away, overload, the load benchmark and a schemathesis fuzz of the server's own schema."""

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from conftest import serve

openai = pytest.importorskip("openai")

KEY = "test-key"
QUESTION = [{"role": "user", "content": "Mia has 23 pens. She buys 15 more. How many pens does she have now?"}]


@pytest.fixture(scope="module")
def server():
    yield from serve("--api-key", KEY, "--max-n", "4")


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"{server}/v1", api_key=KEY, max_retries=0)


def test_models_lists_the_served_model(client):
    assert [m.id for m in client.models.list()] == ["ponder-arith"]


def test_chat_single_and_a_vote_by_model_name(client):
    single = client.chat.completions.create(model="ponder-arith", messages=QUESTION, seed=1)
    assert single.choices[0].message.content.strip().endswith("Answer: 38")
    assert single.model_extra["ponder"]["strategy"] == "single"
    vote = client.chat.completions.create(model="vote@8/ponder-arith", messages=QUESTION, temperature=0.7, seed=2)
    report = vote.model_extra["ponder"]
    assert report["strategy"] == "vote" and report["budget"] == 8 and report["runs"][0]["samples"] == 8
    assert sum(report["runs"][0]["votes"].values()) <= 8 and report["runs"][0]["answer"] == "38"
    assert vote.usage.completion_tokens == report["runs"][0]["tokens"]["generated"] > 8 * 5  # all 8 samples
    assert vote.usage.total_tokens == vote.usage.prompt_tokens + vote.usage.completion_tokens


def test_n_choices_and_the_strategy_from_extra_body(client):
    response = client.chat.completions.create(
        model="ponder-arith", messages=QUESTION, n=3, temperature=0.7, seed=5,
        extra_body={"ponder": {"strategy": "adaptive-vote", "budget": 16, "options": {"confidence": 0.9}}})
    assert [c.index for c in response.choices] == [0, 1, 2]
    report = response.model_extra["ponder"]
    assert report["strategy"] == "adaptive-vote" and report["options"] == {"confidence": 0.9}
    assert len(report["runs"]) == 3 and all(run["samples"] <= 16 for run in report["runs"])
    assert response.usage.completion_tokens == sum(run["tokens"]["generated"] for run in report["runs"])


def test_text_completions_and_stop(client):
    prompt = "<s><|user|>Leo has 7 apples. He buys 5 more. How many apples does he have now?<|assistant|>"
    response = client.completions.create(model="ponder-arith", prompt=prompt, max_tokens=64, temperature=0,
                                         stop=["Answer"])
    assert response.choices[0].text.startswith("7+5=12") and "Answer" not in response.choices[0].text
    assert response.object == "text_completion"


def test_streamed_chat_sends_the_answer_once_decided_then_the_usage_if_asked(client):
    chunks = list(client.chat.completions.create(model="vote@4/ponder-arith", messages=QUESTION, n=2, stream=True,
                                                 seed=3, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = {i: "".join(c.choices[0].delta.content or "" for c in chunks if c.choices and c.choices[0].index == i)
            for i in (0, 1)}
    assert all(t.strip().endswith("Answer: 38") for t in text.values())
    closing, usage = chunks[-2:]  # OpenAI's: the finish reasons, then (include_usage) a chunk of the usage alone
    assert {c.finish_reason for c in closing.choices} == {"stop"} and closing.usage is None
    assert closing.model_extra["ponder"]["strategy"] == "vote"
    assert usage.choices == [] and usage.usage.completion_tokens > 0
    unasked = list(client.chat.completions.create(model="vote@4/ponder-arith", messages=QUESTION, stream=True, seed=3))
    assert all(c.usage is None for c in unasked)  # no usage unless asked, as OpenAI streams


def test_a_strategy_stream_reports_progress_while_it_decides(client):
    chunks = list(client.chat.completions.create(model="vote@64/ponder-arith", messages=QUESTION, stream=True,
                                                 max_tokens=256, temperature=1.0, seed=8))
    progress = [c.model_extra["ponder"] for c in chunks if not c.choices and "tally" in c.model_extra["ponder"]]
    assert progress, "no progress chunk"
    finished = [p["samples_finished"] for p in progress]
    assert finished == sorted(finished) and all(p["samples_started"] == 64 for p in progress)
    assert all(sum(p["tally"].values()) <= p["samples_finished"] for p in progress)


def test_streamed_completion(client):
    stream = client.completions.create(model="ponder-arith", prompt="<s><|user|>Leo has 7 apples.<|assistant|>",
                                       max_tokens=8, stream=True)
    chunks = list(stream)
    assert "".join(c.choices[0].text for c in chunks if c.choices) and chunks[-1].choices[0].finish_reason


def test_bad_api_key_is_401(server):
    bad = openai.OpenAI(base_url=f"{server}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        bad.chat.completions.create(model="ponder-arith", messages=QUESTION)
    assert caught.value.status_code == 401 and caught.value.body["code"] == "invalid_api_key"


@pytest.mark.parametrize("kwargs, status, needle", [
    ({"model": "telepathy@4/ponder-arith"}, 400, "unknown strategy 'telepathy'"),
    ({"model": "gpt-9"}, 404, "'gpt-9' is not served"),
    ({"model": "vote@0/ponder-arith"}, 400, "budget '0'"),
    ({"model": "ponder-arith", "n": 9}, 400, "n=9 is over this server's limit of 4"),
    ({"model": "ponder-arith", "temperature": 7}, 422, "temperature"),
    ({"model": "ponder-arith", "extra_body": {"ponder": {"strategy": "vote", "colour": "red"}}}, 422, "colour"),
    ({"model": "vote@2/ponder-arith", "extra_body": {"ponder": {"options": {"m": 3}}}}, 400, "vote has no option 'm'"),
    ({"model": "best-of-n@2/ponder-arith"}, 400, "needs a verifier"),
    ({"model": "vote@2/ponder-arith", "logprobs": True}, 400, "logprobs are returned by a plain model"),
    ({"model": "ponder-arith", "extra_body": {"ponder": {"verifier": "oracle"}}}, 400, "unknown verifier 'oracle'"),
    ({"model": "ponder-arith", "extra_body": {"ponder": {"budget": 8}}}, 400, "name a strategy too"),
    ({"model": "best-of-n@2/ponder-arith", "extra_body": {"ponder": {"verifier": "orm:/etc"}}}, 400,
     "not a model folder"),
    ({"model": "vote@2/ponder-arith", "stream": True, "extra_body": {"ponder": {"options": {"nope": 1}}}}, 400,
     "vote has no option 'nope'"),  # refused before the stream starts, not as an error event after a 200
])
def test_errors_are_openai_shaped(client, kwargs, status, needle):
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(messages=QUESTION, **kwargs)
    assert caught.value.status_code == status
    body = caught.value.response.json()["error"]
    assert needle in body["message"] and set(body) == {"message", "type", "param", "code"}
    assert "Traceback" not in caught.value.response.text


def test_a_prompt_longer_than_the_context_is_a_400(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="ponder-arith", messages=[{"role": "user", "content": "7 " * 400}])
    assert "context is 512" in caught.value.response.json()["error"]["message"]


def test_health_needs_no_key(server):
    assert json.loads(urllib.request.urlopen(f"{server}/health").read()) == {"status": "ok"}


def metrics(server) -> dict:
    """The server's Prometheus metrics, sample name (with labels) -> value."""
    text = urllib.request.urlopen(f"{server}/metrics").read().decode()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line and not line.startswith("#")}


def test_metrics_count_requests_tokens_and_latency(client, server):
    before = metrics(server)
    client.chat.completions.create(model="vote@4/ponder-arith", messages=QUESTION, seed=9)
    after = metrics(server)
    route = 'ponder_requests_total{route="/v1/chat/completions",status="200"}'
    assert after[route] == before.get(route, 0) + 1
    assert after['ponder_tokens_total{kind="generated"}'] > before.get('ponder_tokens_total{kind="generated"}', 0)
    assert after["ponder_request_latency_seconds_count"] == before.get("ponder_request_latency_seconds_count", 0) + 1
    assert after["ponder_engine_active_rows"] == 0 and "ponder_queue_depth" in after


def test_a_server_error_is_counted_in_the_metrics():
    """A 5xx is a response like any other to /metrics: here the server behind this one (--backend) is gone, so a
    request fails with 502, OpenAI-shaped, and is counted under its status."""
    from ponder.bench.peers import free_port

    for url in serve("--backend", f"http://127.0.0.1:{free_port()}"):  # nothing listens there
        gone = openai.OpenAI(base_url=f"{url}/v1", api_key="-", max_retries=0)
        with pytest.raises(openai.APIStatusError) as failed:
            gone.chat.completions.create(model="ponder-arith", messages=QUESTION)
        assert failed.value.status_code == 502 and failed.value.body["type"] == "server_error"
        assert metrics(url)['ponder_requests_total{route="/v1/chat/completions",status="502"}'] == 1


def test_clients_that_drop_their_streams_leave_no_rows_running(server):
    import http.client

    aborted_before = metrics(server)["ponder_samples_aborted_total"]
    body = json.dumps({"model": "vote@64/ponder-arith", "messages": QUESTION, "stream": True, "max_tokens": 256,
                       "temperature": 1.0})
    host, port = server.removeprefix("http://").split(":")
    for _ in range(20):
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        connection.request("POST", "/v1/chat/completions", body, {"Authorization": f"Bearer {KEY}",
                                                                  "Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 200 and response.readline().startswith(b"data: ")  # the first chunk...
        connection.close()  # ...then the client goes away
    deadline = time.monotonic() + 10  # the server notices each client gone within its heartbeat (0.25 s)
    while time.monotonic() < deadline:
        load = metrics(server)
        if load["ponder_engine_active_rows"] == load["ponder_engine_waiting_rows"] == 0:
            break
        time.sleep(0.05)
    assert load["ponder_engine_active_rows"] == 0 and load["ponder_engine_waiting_rows"] == 0
    assert load["ponder_samples_aborted_total"] - aborted_before >= 20 * 64 * 0.5  # stopped, not run to the end


def test_overload_is_429_with_retry_after():
    import threading

    for url in serve("--max-running", "1", "--max-queue", "0"):
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="-", max_retries=0)
        first = {}
        slow = threading.Thread(target=lambda: first.update(reply=client.chat.completions.create(
            model="vote@64/ponder-arith", messages=QUESTION, max_tokens=256, temperature=1.0)))
        slow.start()
        deadline = time.monotonic() + 30
        while metrics(url)["ponder_engine_active_rows"] == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(model="ponder-arith", messages=QUESTION)
        assert caught.value.response.headers["retry-after"] == "1"
        assert caught.value.response.json()["error"]["code"] == "overloaded"
        slow.join(timeout=120)
        assert first["reply"].model_extra["ponder"]["runs"][0]["samples"] == 64  # the one running was served
        assert metrics(url)["ponder_requests_refused_total"] == 1


def test_bench_server_reports_every_request():
    proc = subprocess.run([sys.executable, "-m", "ponder.cli", "bench", "server", "--requests", "12", "--clients", "4",
                           "--server-model", "vote@2/ponder-arith", "--deadline", "0.02", "--json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout)
    assert figures["answered"] == 12 and figures["lost"] == 0 and figures["statuses"] == {"200": 12}
    # each request's deadline: how far past it the runs answered, as the replies' reports say
    assert figures["runs"] == 12 and figures["deadline_s"] == 0.02 and 0 < figures["stopped_by_deadline"] <= 12
    assert figures["run_overshoot_p50_s"] <= figures["run_overshoot_p99_s"] <= figures["client_overshoot_p99_s"]
    assert 0 < figures["latency_p50_s"] <= figures["latency_p99_s"] and figures["generated_tokens_per_s"] > 0
    assert figures["server_memory_mb_before"] > 0 and figures["server_memory_mb_after"] > 0


def test_fuzzing_the_servers_own_openapi_schema_finds_no_5xx(tmp_path):
    pytest.importorskip("schemathesis")
    schemathesis = [sys.executable, "-c", "from schemathesis.cli import schemathesis; schemathesis()"]
    for url in serve("--max-n", "2", "--max-budget", "2", "--max-tokens", "16"):
        proc = subprocess.run([*schemathesis, "run", f"{url}/openapi.json", "--max-examples", "250",
                               "--checks", "not_a_server_error", "--seed", "1"],
                              capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout[-3000:]
        generated, passed = map(int, re.search(r"(\d+) generated, (\d+) passed", proc.stdout).groups())
        assert generated == passed >= 1000


def test_a_plain_model_returns_token_logprobs_streamed_or_not(client):
    chunks = list(client.chat.completions.create(model="ponder-arith", messages=QUESTION, stream=True, logprobs=True,
                                                 top_logprobs=2, temperature=0))
    entries = [e for c in chunks if c.choices and c.choices[0].logprobs for e in c.choices[0].logprobs.content]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "".join(e.token for e in entries) == text + "</s>"  # every token, the end of sequence too
    assert all(e.logprob <= 0 for e in entries)
    assert all(len(e.top_logprobs) == 2 and e.top_logprobs[0].logprob == e.logprob for e in entries)  # greedy

    whole = client.chat.completions.create(model="ponder-arith", messages=QUESTION, logprobs=True, top_logprobs=2,
                                           temperature=0)
    assert whole.choices[0].message.content == text
    assert [e.token for e in whole.choices[0].logprobs.content] == [e.token for e in entries]
    assert [e.logprob for e in whole.choices[0].logprobs.content] == pytest.approx([e.logprob for e in entries],
                                                                                    abs=1e-3)
    assert whole.usage.completion_tokens == len(entries)

    prompt = "<s><|user|>Leo has 7 apples and buys 5 more. How many apples does Leo have now?<|assistant|>"
    text = client.completions.create(model="ponder-arith", prompt=prompt, n=2, logprobs=0, max_tokens=12, seed=3)
    for choice in text.choices:  # logprobs=0: the sampled token's logprob alone, in the completions shape
        assert "".join(choice.logprobs.tokens) == choice.text and len(choice.logprobs.token_logprobs) == 12
        assert choice.finish_reason == "length" and all(top == {} for top in choice.logprobs.top_logprobs)
    assert text.usage.completion_tokens == 24


def test_a_plain_model_streams_token_by_token(client):
    chunks = list(client.chat.completions.create(model="ponder-arith", messages=QUESTION, stream=True, n=2, seed=4,
                                                 stream_options={"include_usage": True}))
    pieces = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) > 10  # many small deltas, not one text at the end
    text = {i: "".join(c.choices[0].delta.content for c in pieces if c.choices[0].index == i) for i in (0, 1)}
    assert all("Answer:" in t for t in text.values())
    closing, usage = chunks[-2:]
    assert usage.usage.completion_tokens >= len(pieces) and {c.finish_reason for c in closing.choices} == {"stop"}


def test_an_error_after_the_stream_started_arrives_as_an_error_event(client):
    long = [{"role": "user", "content": "7 " * 400}]  # found too long when the engine tokenizes it: after the start
    stream = client.chat.completions.create(model="vote@2/ponder-arith", messages=long, stream=True)
    with pytest.raises(openai.APIError, match="context is 512"):
        list(stream)


def test_echo_scores_the_prompt(client):
    prompt = "<s><|user|>Leo has 7 apples and buys 5 more. How many apples does Leo have now?<|assistant|>7+5=12"
    scored = client.completions.create(model="ponder-arith", prompt=prompt, echo=True, logprobs=0, max_tokens=0)
    choice = scored.choices[0]
    assert choice.text == prompt and scored.usage.completion_tokens == 0
    assert choice.logprobs.token_logprobs[0] is None and all(lp <= 0 for lp in choice.logprobs.token_logprobs[1:])
    assert "".join(choice.logprobs.tokens) == prompt
    assert [prompt[o:o + len(t)] for o, t in zip(choice.logprobs.text_offset, choice.logprobs.tokens)] == \
        choice.logprobs.tokens
    more = client.completions.create(model="ponder-arith", prompt=prompt, echo=True, logprobs=0, max_tokens=4,
                                     temperature=0)  # the prompt, then what was generated after it
    assert more.choices[0].text.startswith(prompt) and len(more.choices[0].text) > len(prompt)
    assert more.choices[0].logprobs.token_logprobs[:len(choice.logprobs.tokens)] == pytest.approx(
        choice.logprobs.token_logprobs, abs=1e-4)
    for bad, needle in (({"max_tokens": 0}, "max_tokens=0 asks for nothing"),
                        ({"echo": True, "stream": True}, "echo is answered by a plain model")):
        with pytest.raises(openai.BadRequestError, match=needle):
            client.completions.create(model="ponder-arith", prompt=prompt, **bad)


@pytest.fixture(scope="module")
def thinking_client():
    for url in serve("--model", "ponder-arith-think"):
        yield openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0)


@pytest.mark.parametrize("model", ["ponder-arith-think", "vote@8/ponder-arith-think"])
def test_the_openai_client_reads_a_thinking_models_reasoning_apart_streamed_or_not(thinking_client, model):
    """What the official client gets: the think block in `reasoning` and `reasoning_content`, only the answer in
    `content`, the reasoning tokens in usage; streamed, the same text and the same usage for the same seed."""
    whole = thinking_client.chat.completions.create(model=model, messages=QUESTION, seed=4)
    message = whole.choices[0].message
    assert message.model_extra["reasoning"] == message.model_extra["reasoning_content"] and \
        "=" in message.model_extra["reasoning"]
    assert message.content.strip().startswith("Answer:") and "think>" not in message.content
    details = whole.usage.completion_tokens_details
    assert 0 < details.reasoning_tokens < whole.usage.completion_tokens
    chunks = list(thinking_client.chat.completions.create(model=model, messages=QUESTION, seed=4, stream=True,
                                                          stream_options={"include_usage": True}))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(d.content or "" for d in deltas) == message.content
    assert "".join(d.model_extra.get("reasoning") or "" for d in deltas) == message.model_extra["reasoning"]
    assert chunks[-1].usage == whole.usage
    none, high = (thinking_client.chat.completions.create(model=model, messages=QUESTION, seed=4,
                                                          reasoning_effort=effort).usage for effort in ("none", "high"))
    assert none.completion_tokens_details.reasoning_tokens == 0 < high.completion_tokens_details.reasoning_tokens
    assert none.completion_tokens < high.completion_tokens


LONE = "\\ud800"  # a lone surrogate, as JSON escapes it: Python keeps it in a str, UTF-8 cannot encode it


@pytest.mark.parametrize("route, body, param", [
    ("chat", {"messages": [{"role": "user", "content": f"7+5{LONE}?"}]}, "messages[0].content"),
    ("chat", {"messages": [{"role": "user", "content": [{"type": "text", "text": LONE}]}]},
     "messages[0].content[0].text"),
    ("chat", {"model": f"vote@2/{LONE}", "messages": [{"role": "user", "content": "7+5?"}]}, "model"),
    ("chat", {"messages": [{"role": "user", "content": "7+5?"}], "stop": [LONE]}, "stop[0]"),
    ("chat", {"messages": [{"role": "user", "content": "7+5?"}], "user": LONE, "stream": True}, "user"),
    ("chat", {"messages": [{"role": "user", "content": "7+5?"}], "ponder": {"strategy": LONE}}, "ponder.strategy"),
    ("chat", {"messages": [{"role": "user", "content": "7+5?"}], "colour": LONE}, "colour"),
    ("completions", {"prompt": f"<s>{LONE}"}, "prompt"),
    ("completions", {"prompt": "<s>", "stop": LONE, "stream": True}, "stop"),
])
def test_text_that_is_not_valid_unicode_is_a_400_naming_where(server, route, body, param):
    """In every text field, streamed or not: one clear 400, before anything runs, and the server goes on."""
    raw = "{" + ", ".join(f'"{k}": {json.dumps(v).replace(chr(92) * 2, chr(92))}'
                          for k, v in {"model": "ponder-arith", **body}.items()) + "}"
    request = urllib.request.Request(f"{server}/v1/{route.replace('chat', 'chat/completions')}", raw.encode(),
                                     {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    assert caught.value.code == 400
    error = json.loads(caught.value.read())["error"]
    assert error["param"] == param and "not valid Unicode" in error["message"]
    assert json.loads(urllib.request.urlopen(f"{server}/health").read()) == {"status": "ok"}
