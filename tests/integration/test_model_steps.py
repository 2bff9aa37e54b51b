"""Model steps end to end: the real CLI, the real `openai` client, a local OpenAI-compatible
HTTP server (tests/openai_server.py) on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.openai_server import OpenAIServer, Reply, write_config

SECRET = "sk-test-9f8e7d6c5b4a39281706"

PLAN = """\
name: two-models
steps:
  - name: design
    model: auto
    type: planning
    prompt: "Design {{ description }} ({{ requirements }})"
  - name: code
    model: auto
    needs: [design]
    prompt: "Implement this design: {{ steps.design.output }}"
    output: out/code.txt
"""


@pytest.fixture
def srv(openai_server):
    return openai_server


@pytest.fixture
def config(tmp_path: Path, srv: OpenAIServer) -> Path:
    return write_config(tmp_path / "config.yaml", srv, api_key_env="TEST_MODEL_KEY")


def events(cli, tid: str, kind: str) -> list[dict]:
    res = cli("task", "events", tid, "--json")
    assert res.returncode == 0, res.stderr
    return [e for e in map(json.loads, res.stdout.splitlines()) if e["kind"] == kind]


def create(cli, config: Path, plan: Path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess, str]:
    res = cli("--config", str(config), "task", "create", "--plan", str(plan), "--foreground", *args,
              TEST_MODEL_KEY=SECRET, **env)
    return res, res.stdout.strip().splitlines()[0] if res.stdout.strip() else ""


def test_model_steps_stream_fall_back_record_calls_and_never_leak_the_key(cli, home, config, srv, write_plan):
    srv.script(Reply(status=500), Reply(status=503), model="m1")  # m1 fails twice (1 retry): next model
    res, tid = create(cli, config, write_plan(PLAN), "-d", "a login form", "--requirements", "friendly")
    assert res.returncode == 0, res.stderr
    status = cli.json("task", "status", tid)
    assert status["status"] == "completed"
    design, code = status["steps"]
    assert design["model"]["selected"] == "m1" and design["model"]["fallbacks"] == ["m2"]
    assert design["model"]["used"] == "m2"
    assert design["model"]["calls"] == 3 and design["model"]["failed_calls"] == 2
    assert code["model"]["used"] == "m1"
    totals = status["model_calls"]
    assert totals["calls"] == 4 and totals["failed_calls"] == 2
    ok_calls = [c for c in totals["calls_list"] if c["status"] == "ok"]
    assert all(c["tokens_in"] and c["tokens_out"] and c["latency"] > 0 and c["ttft"] is not None
               and c["finish_reason"] == "stop" for c in ok_calls)
    expected_cost = sum((c["tokens_in"] * 1 + c["tokens_out"] * 2) / 1e6 for c in ok_calls)
    assert totals["cost"] == pytest.approx(expected_cost)
    # the template read the earlier step's output; the answer went to the output file
    code_prompt = srv.requests[-1].last_user
    assert code_prompt == "Implement this design: echo: Design a login form (friendly)"
    ws = Path(status["workspace"])
    assert (ws / "out" / "code.txt").read_text() == f"echo: {code_prompt}"
    # every move is an event with its reason
    (fallback,) = events(cli, tid, "model_fallback")
    assert fallback["step"] == "design" and fallback["payload"]["from"] == "m1"
    assert fallback["payload"]["to"] == "m2" and "HTTP 503" in fallback["payload"]["reason"]
    assert len(events(cli, tid, "model_retry")) == 1
    # the streamed answer is in the step log
    logs = cli("task", "logs", tid, "--step", "design")
    assert "echo: Design a login form (friendly)" in logs.stdout
    # status, result and metrics show the calls to people too
    plain = cli("task", "status", tid)
    assert "model design: m1 -> m2, answered by m2" in plain.stdout
    assert "model calls: 4 (2 failed)" in plain.stdout
    result = cli.json("task", "result", tid)
    assert result["metrics"]["model_calls"] == 4
    assert result["steps"][1]["result"]["output"] == f"echo: {code_prompt}"
    metrics = cli("task", "metrics", tid)
    assert "model calls: 4" in metrics.stdout
    # the key went to the endpoint, and nowhere else
    assert srv.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    grep = subprocess.run(["grep", "-r", "-l", SECRET, str(home)], capture_output=True, text=True)
    assert grep.stdout == "", f"API key found in {grep.stdout}"


def test_rate_limit_honours_retry_after(cli, config, srv, write_plan):
    srv.script(Reply(status=429, headers={"Retry-After": "0.4"}), Reply(content="fine"), model="m1")
    res, tid = create(cli, config, write_plan("steps:\n  - {name: a, model: m1, prompt: hi}\n"))
    assert res.returncode == 0, res.stderr
    (retry,) = events(cli, tid, "model_retry")
    assert retry["payload"]["delay"] == pytest.approx(0.4)
    assert "HTTP 429" in retry["payload"]["reason"]
    first, second = srv.requests_for("m1")
    assert second.received_at - first.received_at >= 0.4
    assert not events(cli, tid, "model_fallback")


def test_bad_request_is_the_steps_failure_not_the_endpoints(cli, config, srv, write_plan):
    srv.script(Reply(status=400, error="max_tokens is too large"), model="m1")
    res, tid = create(cli, config, write_plan("steps:\n  - {name: a, model: m1, prompt: hi, max_tokens: 5}\n"))
    assert res.returncode == 1
    status = cli.json("task", "status", tid)
    assert "rejected the request" in status["steps"][0]["reason"]
    assert "max_tokens is too large" in status["steps"][0]["reason"]
    assert srv.requests_for("m2") == [], "a bad request does not move to the next model"
    assert len(srv.requests_for("m1")) == 1, "nor is it retried"
    assert srv.requests[0].body["max_tokens"] == 5


def test_malformed_answer_and_timeout_move_to_the_next_model(cli, tmp_path, srv, write_plan):
    config = write_config(tmp_path / "c.yaml", srv, models=("m1", "m2", "m3"), fallbacks=("m2", "m3"),
                          retries=0, timeout=0.5)
    srv.script(Reply(raw="{this is not json"), model="m1")
    srv.script(Reply(content="late", delay=3), model="m2")
    srv.script(Reply(content="from m3"), model="m3")
    res, tid = create(cli, config, write_plan("steps:\n  - {name: a, model: auto, prompt: hi}\n"))
    assert res.returncode == 0, res.stderr
    moves = [e["payload"] for e in events(cli, tid, "model_fallback")]
    assert [(m["from"], m["to"]) for m in moves] == [("m1", "m2"), ("m2", "m3")]
    assert "malformed" in moves[0]["reason"] and "timeout" in moves[1]["reason"]
    assert cli.json("task", "result", tid)["steps"][0]["result"]["output"] == "from m3"


SCHEMA_PLAN = """\
steps:
  - name: facts
    model: m1
    prompt: "List facts"
    response_format: json
    json_schema:
      type: object
      required: [facts]
      properties: {facts: {type: array, items: {type: string}}}
"""


def test_json_answer_is_validated_and_repaired_once(cli, config, srv, write_plan):
    srv.script(Reply(content='{"fact": "x"}'), Reply(content='{"facts": ["sky is blue"]}'), model="m1")
    res, tid = create(cli, config, write_plan(SCHEMA_PLAN))
    assert res.returncode == 0, res.stderr
    assert cli.json("task", "result", tid)["steps"][0]["result"]["json"] == {"facts": ["sky is blue"]}
    first, repair = srv.requests_for("m1")
    assert first.body["response_format"]["type"] == "json_schema"
    assert "'facts' is a required property" in repair.last_user
    assert len(events(cli, tid, "model_repair")) == 1


def test_json_answer_invalid_after_repair_fails_with_the_errors(cli, config, srv, write_plan):
    srv.script(Reply(content="not json"), Reply(content='{"facts": "one"}'), model="m1")
    res, tid = create(cli, config, write_plan(SCHEMA_PLAN))
    assert res.returncode == 1
    reason = cli.json("task", "status", tid)["steps"][0]["reason"]
    assert "after one repair" in reason and "facts: 'one' is not of type 'array'" in reason
    assert srv.requests_for("m2") == []


def test_missing_api_key_is_one_clear_line(cli, config, srv, write_plan):
    res = cli("--config", str(config), "task", "create", "--plan",
              str(write_plan("steps:\n  - {name: a, model: m1, prompt: hi}\n")), "--foreground")
    assert res.returncode == 1
    tid = res.stdout.split()[0]
    assert "needs its API key in $TEST_MODEL_KEY" in cli.json("task", "status", tid)["steps"][0]["reason"]
    assert srv.requests == []


def test_unconfigured_model_is_bad_input_and_stores_nothing(cli, home, config, write_plan):
    res = cli("--config", str(config), "task", "create", "--plan",
              str(write_plan("steps:\n  - {name: a, model: gpt-9, prompt: hi}\n")))
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "model 'gpt-9' is not configured" in res.stderr
    assert cli.json("task", "list") == []


HOT_SWAP_PLAN = """\
steps:
  - {name: first, model: m1, prompt: "one"}
  - {name: second, model: m1, prompt: "two: {{ steps.first.output }}", needs: [first]}
"""


def test_hot_swap_while_the_task_runs(cli, config, srv, write_plan):
    gate = threading.Event()
    srv.script(Reply(content="first answer", wait=gate), model="m1")
    proc = cli.popen("--config", str(config), "task", "create", "--plan", str(write_plan(HOT_SWAP_PLAN)),
                     "--foreground", TEST_MODEL_KEY=SECRET)
    try:
        wait_for(lambda: srv.requests, timeout=30)  # `first` is talking to m1
        tid = cli.json("task", "list")[0]["id"]
        started = cli("--config", str(config), "task", "modify", tid, "--model", "first=m2")
        assert started.returncode == 5 and "already started" in started.stderr
        swap = cli("--config", str(config), "task", "modify", tid, "--model", "m2")
        assert swap.returncode == 0, swap.stderr
        assert "second m1 -> m2" in swap.stderr
        gate.set()
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
    finally:
        gate.set()
        if proc.poll() is None:
            proc.kill()
    assert [r.last_user for r in srv.requests_for("m2")] == ["two: first answer"]
    (swapped,) = events(cli, tid, "model_swapped")
    assert swapped["step"] == "second"
    assert swapped["payload"]["old"] == "m1" and swapped["payload"]["new"] == "m2" and swapped["payload"]["who"]
    second = cli.json("task", "status", tid)["steps"][1]["model"]
    assert second["selected"] == "m2" and second["used"] == "m2" and "hot-swapped" in second["reasoning"]


def test_hot_swap_rejects_unknown_models_and_steps(cli, config, write_plan):
    res = cli("--config", str(config), "task", "create", "--no-start", "--plan", str(write_plan(HOT_SWAP_PLAN)))
    tid = res.stdout.strip()
    bad = cli("--config", str(config), "task", "modify", tid, "--model", "nope")
    assert bad.returncode == 2 and "model 'nope' is not configured" in bad.stderr
    missing = cli("--config", str(config), "task", "modify", tid, "--model", "zzz=m2")
    assert missing.returncode == 3
    ok = cli("--config", str(config), "task", "modify", tid, "--model", "second=m2")
    assert ok.returncode == 0, ok.stderr
    spec = cli.json("task", "status", tid)["steps"][1]["model"]
    assert spec["selected"] == "m2" and spec["fallbacks"] == ["m1"]


def test_the_model_steps_example_runs_against_the_test_server(cli, tmp_path, srv):
    from tests.conftest import EXAMPLES

    def answer(req):
        if "as JSON" in req.last_user:
            return Reply(content='{"checks": ["limits bursts", "is thread safe"]}')
        return Reply(content=f"answer to: {req.last_user[:40]}")

    srv.default = answer
    config = write_config(tmp_path / "c.yaml", srv, extra="")
    res = cli("--config", str(config), "task", "create", "--plan", str(EXAMPLES / "model-steps.yaml"),
              "--description", "a rate limiter", "--requirements", "code", "--foreground", timeout=120)
    assert res.returncode == 0, res.stderr
    status = cli.json("task", "status", res.stdout.split()[0])
    ws = Path(status["workspace"])
    assert json.loads((ws / "checklist.json").read_text())["checks"] == ["limits bursts", "is thread safe"]
    implement = srv.requests[-1]
    assert '"checks": ["limits bursts"' in implement.last_user and "answer to: Design a rate limiter" in (
        implement.last_user)
    assert srv.requests[0].messages[0] == {"role": "system", "content": "You are a senior engineer. Be brief."}
    assert srv.requests[0].body["max_tokens"] == 400 and srv.requests[0].body["temperature"] == 0.2


@pytest.mark.parametrize("name", ["models-ollama.yaml", "models-llamacpp.yaml"])
def test_example_model_configs_load(name):
    from agent_agency_cli.config import load_settings
    from tests.conftest import EXAMPLES

    s = load_settings(EXAMPLES / name)
    assert s.models.selection.planner in s.models.models
    assert all(p.base_url.startswith("http://localhost:") for p in s.models.providers.values())


def test_status_of_a_model_task_does_not_import_the_sdk(cli, config, write_plan):
    import sys

    tid = cli("--config", str(config), "task", "create", "--no-start", "--plan",
              str(write_plan(PLAN))).stdout.strip()
    code = (
        "import sys\n"
        "from agent_agency_cli.cli.main import app\n"
        f"for argv in (['task', 'status', '{tid}', '--json'], ['task', 'status', '{tid}']):\n"
        "    try:\n"
        "        app(argv, prog_name='agent-agency-cli')\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('BAD', [m for m in ('openai', 'jsonschema', 'textual', 'anyio') if m in sys.modules])\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=cli.env(AGENT_AGENCY_CONFIG=str(config)))
    assert "BAD []" in res.stdout, res.stdout + res.stderr
    assert '"selected": "m1"' in res.stdout


def test_each_endpoint_has_its_own_breaker(cli, tmp_path, write_plan):
    with OpenAIServer(default=lambda req: Reply(status=502)) as down, OpenAIServer() as up:
        config = tmp_path / "c.yaml"
        config.write_text(
            "recovery: {breakers: {failure_threshold: 1, recovery_timeout: 1h}}\n"
            "models:\n  providers:\n"
            f"    down: {{base_url: \"{down.base_url}\", retries: 0}}\n"
            f"    up: {{base_url: \"{up.base_url}\", retries: 0}}\n"
            "  models:\n    m1: {provider: down}\n    m2: {provider: up}\n"
            "  selection:\n    default: {primary: m1, fallbacks: [m2]}\n")
        plan = write_plan("steps:\n  - {name: a, model: auto, prompt: one}\n"
                          "  - {name: b, model: auto, prompt: two, needs: [a]}\n")
        res, tid = create(cli, config, plan)
        assert res.returncode == 0, res.stderr
        assert len(down.requests) == 1, "the open breaker kept step b away from the failing endpoint"
        assert [r.last_user for r in up.requests] == ["one", "two"]
        reasons = {e["step"]: e["payload"]["reason"] for e in events(cli, tid, "model_fallback")}
        assert "HTTP 502" in reasons["a"] and "circuit open" in reasons["b"]
        breakers = {b["name"]: b for b in cli.json("--config", str(config), "breakers", "list")}
        assert breakers[f"model endpoint {down.base_url}"]["state"] == "open"
        assert breakers.get(f"model endpoint {up.base_url}", {"state": "closed"})["state"] == "closed"


def test_cancel_stops_a_model_step_waiting_on_its_endpoint(cli, config, srv, write_plan):
    gate = threading.Event()
    srv.script(Reply(content="never read", wait=gate), model="m1")
    proc = cli.popen("--config", str(config), "task", "create", "--plan",
                     str(write_plan("steps:\n  - {name: slow, model: m1, prompt: think}\n")), "--foreground",
                     TEST_MODEL_KEY=SECRET)
    try:
        wait_for(lambda: srv.requests, timeout=30)
        tid = cli.json("task", "list")[0]["id"]
        res = cli("task", "cancel", tid, "--reason", "took too long")
        assert res.returncode == 0, res.stderr
        assert proc.wait(timeout=30) == 4
    finally:
        gate.set()
        if proc.poll() is None:
            proc.kill()
    status = cli.json("task", "status", tid)
    assert status["status"] == "cancelled" and status["steps"][0]["status"] == "cancelled"


def test_a_long_answer_reaches_later_steps_whole(cli, config, srv, write_plan):
    long = " ".join(f"w{i}" for i in range(1500))  # longer than the result's preview
    srv.script(Reply(content=long), model="m1")
    plan = write_plan("steps:\n  - {name: a, model: m1, prompt: write}\n"
                      "  - {name: b, model: m1, prompt: 'got {{ steps.a.output }}', needs: [a]}\n")
    res, tid = create(cli, config, plan)
    assert res.returncode == 0, res.stderr
    assert srv.requests[-1].last_user == f"got {long}"
    preview = cli.json("task", "result", tid)["steps"][0]["result"]["output"]
    assert preview.endswith("…") and len(preview) < len(long)


def test_a_prompt_too_long_for_a_models_context_goes_to_the_next_model(cli, tmp_path, srv, write_plan):
    config = tmp_path / "c.yaml"
    config.write_text(
        "models:\n  providers:\n"
        f"    local: {{base_url: \"{srv.base_url}\"}}\n"
        "  models:\n    small: {provider: local, context: 50}\n    large: {provider: local, context: 100000}\n"
        "  selection:\n    default: {primary: small, fallbacks: [large]}\n")
    prompt = "word " * 100  # ~125 tokens
    res, tid = create(cli, config, write_plan(f"steps:\n  - {{name: a, model: auto, prompt: '{prompt}'}}\n"))
    assert res.returncode == 0, res.stderr
    assert [r.model for r in srv.requests] == ["large"]
    (move,) = events(cli, tid, "model_fallback")
    assert "does not fit its context of 50" in move["payload"]["reason"]
