"""The test server speaks the protocol the real `openai` client expects (plain and
streamed answers, usage, tool calls, errors with headers), and the model client reads it.
Also: a missing `openai` package is one line naming the extra."""

from __future__ import annotations

import json
import subprocess
import sys

import anyio
import pytest

from agent_agency_cli.config import ModelsSettings
from agent_agency_cli.executors.model_client import call_once, resolve
from tests.openai_server import OpenAIServer, Reply


@pytest.fixture
def srv():
    with OpenAIServer(models=["m1"]) as server:
        yield server


def test_plain_and_streamed_answers_with_usage(srv):
    import openai  # here, not at module level: it costs every xdist worker ~0.4 s at collection

    client = openai.OpenAI(base_url=srv.base_url, api_key="k", max_retries=0)
    srv.script(Reply(content="hello there"))
    plain = client.chat.completions.create(model="m1", messages=[{"role": "user", "content": "hi"}])
    assert plain.choices[0].message.content == "hello there"
    assert plain.usage.completion_tokens == 2
    stream = client.chat.completions.create(model="m1", messages=[{"role": "user", "content": "say it"}],
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: say it"
    assert chunks[-1].usage.prompt_tokens == 2
    assert [m.id for m in client.models.list()] == ["m1"]


def test_tool_calls_plain_and_streamed(srv):
    import openai  # here, not at module level: it costs every xdist worker ~0.4 s at collection

    client = openai.OpenAI(base_url=srv.base_url, api_key="k", max_retries=0)
    call = {"name": "read_file", "arguments": {"path": "a.txt"}, "id": "call_1"}
    srv.script(Reply(content=None, tool_calls=[call]), Reply(content=None, tool_calls=[call]))
    tools = [{"type": "function", "function": {"name": "read_file", "parameters": {"type": "object"}}}]
    plain = client.chat.completions.create(model="m1", messages=[{"role": "user", "content": "x"}], tools=tools)
    tc = plain.choices[0].message.tool_calls[0]
    assert plain.choices[0].finish_reason == "tool_calls"
    assert (tc.id, tc.function.name, json.loads(tc.function.arguments)) == ("call_1", "read_file", {"path": "a.txt"})
    assert srv.requests[-1].body["tools"] == tools
    ep = resolve("m1", ModelsSettings.model_validate(
        {"providers": {"p": {"base_url": srv.base_url}}, "models": {"m1": {"provider": "p"}}}))
    aclient = openai.AsyncOpenAI(base_url=srv.base_url, api_key="k", max_retries=0)

    async def streamed():
        try:
            return await call_once(ep, aclient, [{"role": "user", "content": "x"}], tools=tools)
        finally:
            await aclient.close()

    res = anyio.run(streamed)
    assert res.ok and res.finish_reason == "tool_calls"
    assert res.tool_calls == [{"id": "call_1", "name": "read_file", "arguments": '{"path": "a.txt"}'}]


def test_errors_carry_status_and_headers(srv):
    import openai

    client = openai.OpenAI(base_url=srv.base_url, api_key="k", max_retries=0)
    srv.script(Reply(status=429, headers={"Retry-After": "7"}, error="slow down"))
    with pytest.raises(openai.RateLimitError) as exc:
        client.chat.completions.create(model="m1", messages=[{"role": "user", "content": "x"}])
    assert exc.value.response.headers["retry-after"] == "7"
    assert "slow down" in str(exc.value)


def test_missing_openai_is_one_line_naming_the_extra():
    code = ("import sys; sys.modules['openai'] = None\n"
            "from agent_agency_cli.executors.model_client import require_openai\n"
            "try:\n    require_openai()\nexcept Exception as e:\n    print(type(e).__name__, e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.strip() == ("BadInputError model steps need the 'ai' extra: "
                           "pip install 'agent-agency-cli[ai]'")
