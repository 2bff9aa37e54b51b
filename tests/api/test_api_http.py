"""The HTTP API through a real uvicorn server: submit, read, steer, errors, auth, audit."""

from __future__ import annotations

import json
import os
import stat

import pytest
from typer.testing import CliRunner

from agent_agency_cli.cli.main import app as cli_app
from tests.conftest import skip_module_unless_installed, wait_for

skip_module_unless_installed("fastapi", "the API tests need the 'api' extra: pip install -e '.[dev,api]'")

PLAN = {"steps": [{"name": "hello", "run": "echo hello from the api"},
                  {"name": "after", "run": "echo after", "needs": ["hello"]}]}
STRICT_PLAN = {"steps": [{"name": "first", "run": "echo one"},
                         {"name": "second", "run": "echo two", "needs": ["first"]}]}


def _cli(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(cli_app, list(args))
    return res.exit_code, res.stdout, res.stderr


def _wait_status(client, tid: str, *statuses: str) -> dict:
    def ready() -> dict | None:
        body = client.get(f"/api/v1/tasks/{tid}").json()
        return body if body["status"] in statuses else None

    try:
        return wait_for(ready, timeout=30)  # type: ignore[return-value]
    except AssertionError:
        now = client.get(f"/api/v1/tasks/{tid}").text
        raise AssertionError(f"task {tid} never reached {statuses}: {now}") from None


def test_submitted_task_runs_and_reads_match_the_cli_json(api):
    with api.client() as c:
        r = c.post("/api/v1/tasks", json={"description": "Greet from the API", "priority": "high",
                                          "execution_mode": "auto", "requirements": ["says hello"],
                                          "deadline": "2h", "plan": PLAN})
        assert r.status_code == 201, r.text
        tid = r.json()["id"]
        assert r.headers["location"] == f"/api/v1/tasks/{tid}"
        assert r.json()["priority"] == "high" and r.json()["requirements"] == ["says hello"]
        done = _wait_status(c, tid, "completed", "failed")
        assert done["status"] == "completed" and done["exit_code"] == 0
        code, out, _ = _cli("task", "status", tid, "--json")
        assert code == 0
        cli_status = json.loads(out)
        # The same object as `task status --json`, except what moves with the clock.
        for key in ("id", "description", "status", "priority", "mode", "progress", "requirements", "steps",
                    "interventions", "attempts", "exit_code", "plan"):
            if key == "steps":
                strip = [{k: v for k, v in s.items() if k != "duration"} for s in done[key]]
                assert strip == [{k: v for k, v in s.items() if k != "duration"} for s in cli_status[key]]
            else:
                assert done[key] == cli_status[key], key
        listed = c.get("/api/v1/tasks").json()
        code, out, _ = _cli("task", "list", "--json")
        assert [t["id"] for t in listed["tasks"]] == [t["id"] for t in json.loads(out)] == [tid]
        logs = c.get(f"/api/v1/tasks/{tid}/logs", params={"step": "hello"}).json()
        assert "hello from the api" in [line["text"] for line in logs["lines"]]
        newer = c.get(f"/api/v1/tasks/{tid}/logs", params={"offset": 0}).json()
        assert c.get(f"/api/v1/tasks/{tid}/logs", params={"offset": newer["next_offset"]}).json()["lines"] == []
        result = c.get(f"/api/v1/tasks/{tid}/result").json()
        code, out, _ = _cli("task", "result", tid, "--json")
        assert code == 0
        assert result["status"] == json.loads(out)["status"] == "completed"
        assert [s["name"] for s in result["steps"]] == ["hello", "after"]
        events = c.get(f"/api/v1/tasks/{tid}/events").json()
        code, out, _ = _cli("task", "events", tid, "--json")
        assert events == [json.loads(line) for line in out.splitlines()]
        assert c.get(f"/api/v1/tasks/{tid}/events", params={"after": events[-2]["id"]}).json() == events[-1:]


def _seed() -> dict:
    """The seed's REST body as written (a future deadline), without a plan: examples/api-request-planned.json."""
    from tests.conftest import EXAMPLES

    return json.loads((EXAMPLES / "api-request-planned.json").read_text())


SEED = _seed()


def test_the_seeds_body_without_a_plan_is_planned_like_the_cli_and_reaches_a_result(api):
    with api.client() as c:
        r = c.post("/api/v1/tasks", json=SEED)
        assert r.status_code == 201, r.text
        tid = r.json()["id"]
        assert r.json()["stakeholders"] == ["security_team", "backend_team"]
        done = _wait_status(c, tid, "completed", "partially_completed", "failed")
        result = c.get(f"/api/v1/tasks/{tid}/result").json()
    # The built-in planner's plan, the same one `task create --description ...` gets without --plan.
    code, out, _ = _cli("task", "plan", "--description", SEED["description"], "--requirements",
                        ",".join(SEED["requirements"]), "--json")
    assert code == 0, out
    assert [s["name"] for s in done["steps"]] == [s["name"] for s in json.loads(out)["plan"]["steps"]] == ["brief"]
    assert done["steps"][0]["status"] == "completed"
    # The brief proves none of the requirements: the final review says so, and the result is there.
    assert done["status"] == "partially_completed" and result["finished"] and result["gaps"]
    code, out, _ = _cli("task", "status", tid, "--json")
    assert json.loads(out)["stakeholders"] == ["security_team", "backend_team"]


@pytest.mark.parametrize(("stakeholders", "needle"), [
    (["security_team", " "], "stakeholders: empty name"),
    (["x" * 101], "is not a name"),
])
def test_bad_stakeholders_are_one_problem_line_and_store_nothing(api_queue_only, stakeholders, needle):
    with api_queue_only.client() as c:
        r = c.post("/api/v1/tasks", json={**SEED, "plan": PLAN, "stakeholders": stakeholders})
        assert r.status_code == 422, r.text
        assert needle in r.json()["detail"] and r.json()["exit_code"] == 2
        assert c.get("/api/v1/tasks").json()["tasks"] == []


@pytest.mark.parametrize(("body", "status", "needle"), [
    ({"description": "valid words", "plan": PLAN, "priority": "asap"}, 422, "priority"),
    ({"description": "valid words", "plan": {"steps": [{"name": "x"}]}}, 422, "x"),
    ({"description": "valid words", "plan": PLAN, "deadline": "2001-01-01"}, 422, "past"),
    ({"description": "valid words", "plan": PLAN, "surprise": 1}, 422, "surprise"),
])
def test_bad_input_is_one_problem_line_and_writes_nothing(api_queue_only, body, status, needle):
    with api_queue_only.client() as c:
        r = c.post("/api/v1/tasks", json=body)
        assert r.status_code == status, r.text
        problem = r.json()
        assert set(problem) == {"type", "title", "status", "detail", "exit_code", "instance"}
        assert needle in problem["detail"] and "\n" not in problem["detail"]
        assert "Traceback" not in r.text
        assert c.get("/api/v1/tasks").json()["tasks"] == []


def test_problem_details_map_the_cli_exit_codes(api_queue_only):
    with api_queue_only.client() as c:
        r = c.post("/api/v1/tasks", content=b"{not json", headers={"Content-Type": "application/json"})
        assert (r.status_code, r.json()["exit_code"]) == (400, 2)
        r = c.get("/api/v1/tasks/nosuch")
        assert (r.status_code, r.json()["exit_code"]) == (404, 3)
        assert "no task" in r.json()["detail"]
        tid = c.post("/api/v1/tasks", json={"description": "queued only", "plan": PLAN}).json()["id"]
        r = c.post(f"/api/v1/tasks/{tid}/resume")
        assert (r.status_code, r.json()["exit_code"]) == (409, 5)
        assert "nothing to resume" in r.json()["detail"]
        r = c.post(f"/api/v1/tasks/{tid}/override", json={"step": "nope", "action": "skip", "reason": "r"})
        assert r.status_code == 404
        r = c.post(f"/api/v1/tasks/{tid}/reject", json={})
        assert r.status_code == 422 and "reason" in r.json()["detail"]
        r = c.post("/api/v1/tasks", content=b"x" * (1024 * 1024 + 1), headers={"Content-Type": "application/json"})
        assert r.status_code == 413


def test_interventions_are_audited_with_the_token_name_and_client_address(api_queue_only, home):
    with api_queue_only.client() as c:
        tid = c.post("/api/v1/tasks", json={"description": "audit me please", "plan": PLAN}).json()["id"]
        r = c.post(f"/api/v1/tasks/{tid}/pause")
        assert r.status_code == 200 and r.json() == {"task_id": tid, "message": r.json()["message"]}
        assert "paused" in r.json()["message"]
        r = c.post(f"/api/v1/tasks/{tid}/modify", json={"priority": "urgent", "deadline": "3h"})
        assert r.status_code == 200, r.text
        r = c.post(f"/api/v1/tasks/{tid}/cancel", json={"reason": "changed my mind"})
        assert r.status_code == 200
        status = c.get(f"/api/v1/tasks/{tid}").json()
    assert status["status"] == "cancelled" and status["priority"] == "urgent"
    assert [(i["kind"], i["who"], i["outcome"]) for i in status["interventions"]] == [
        ("pause", "api:default@127.0.0.1", "applied"), ("modify", "api:default@127.0.0.1", "applied"),
        ("cancel", "api:default@127.0.0.1", "applied")]


def test_api_and_cli_steer_one_strict_task_in_turn(api):
    with api.client() as c:
        tid = c.post("/api/v1/tasks", json={"description": "strict, both faces", "execution_mode": "strict",
                                            "plan": STRICT_PLAN}).json()["id"]
        waiting = _wait_status(c, tid, "awaiting_approval")
        assert waiting["approval"]["step"] == "first"
        r = c.post(f"/api/v1/tasks/{tid}/approve", json={})
        assert r.status_code == 200, r.text
        wait_for(lambda: (c.get(f"/api/v1/tasks/{tid}").json()["approval"] or {}).get("step") == "second",
                 timeout=30)
        code, _, err = _cli("task", "approve", tid)
        assert code == 0, err
        done = _wait_status(c, tid, "completed", "failed")
    assert done["status"] == "completed"
    whos = [i["who"] for i in done["interventions"] if i["kind"] == "approve"]
    assert whos[0] == "api:default@127.0.0.1"
    assert whos[1].startswith(os.environ.get("USER", "")) and not whos[1].startswith("api:")


def test_paging_walks_the_list_without_gaps(api_queue_only):
    with api_queue_only.client() as c:
        ids = [c.post("/api/v1/tasks", json={"description": f"task number {i}", "plan": PLAN}).json()["id"]
               for i in range(5)]
        seen, offset = [], 0
        while offset is not None:
            page = c.get("/api/v1/tasks", params={"limit": 2, "offset": offset}).json()
            seen += [t["id"] for t in page["tasks"]]
            offset = page["next_offset"]
        assert seen == list(reversed(ids))
        assert c.get("/api/v1/tasks", params={"status": "running"}).json()["tasks"] == []
        assert c.get("/api/v1/tasks", params={"status": "bogus"}).status_code == 422


# -- security -----------------------------------------------------------------------------------


def test_requests_without_the_right_token_are_refused(api_queue_only):
    import httpx

    url = api_queue_only.url
    for headers, needle in (({}, "missing bearer token"), ({"Authorization": "Bearer wrong-token-value"}, "not valid"),
                            ({"Authorization": f"Basic {api_queue_only.token}"}, "not valid")):
        r = httpx.get(f"{url}/api/v1/tasks", headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["www-authenticate"] == "Bearer"
        assert needle in r.json()["detail"]
        assert api_queue_only.token not in r.text
        r = httpx.post(f"{url}/api/v1/tasks", headers=headers, json={"description": "sneaky task", "plan": PLAN})
        assert r.status_code == 401
    with api_queue_only.client() as c:
        assert c.get("/api/v1/tasks").json()["tasks"] == []
    # The monitor's files and the OpenAPI document hold no data: no token needed.
    assert httpx.get(f"{url}/").status_code == 200
    assert httpx.get(f"{url}/api/v1/openapi.json").json()["info"]["title"] == "agent-agency-cli API"


def test_a_token_added_to_the_file_works_at_once_and_is_audited_by_name(api_queue_only, home):
    with open(home / "api-tokens", "a") as fh:
        fh.write("ci-bot ci-bot-token-0123456789abcdef\n")
    with api_queue_only.client(token="ci-bot-token-0123456789abcdef") as c:
        tid = c.post("/api/v1/tasks", json={"description": "from the bot", "plan": PLAN}).json()["id"]
        c.post(f"/api/v1/tasks/{tid}/pause").raise_for_status()
        assert c.get(f"/api/v1/tasks/{tid}").json()["interventions"][0]["who"] == "api:ci-bot@127.0.0.1"


def test_the_token_file_is_private_and_stable(home):
    from agent_agency_cli.api.tokens import ensure_token, token_path

    name, token, created = ensure_token(home)
    assert (name, created) == ("default", True) and len(token) >= 32
    assert stat.S_IMODE(os.stat(token_path(home)).st_mode) == 0o600
    assert ensure_token(home) == (name, token, False)


def test_serve_refuses_a_remote_bind_without_allow_remote():
    code, _, err = _cli("serve", "--host", "0.0.0.0")
    assert code == 2
    assert "--allow-remote" in err and "Traceback" not in err
    from agent_agency_cli.api.server import check_bind

    check_bind("0.0.0.0", allow_remote=True)
    check_bind("127.0.0.1", allow_remote=False)
    check_bind("::1", allow_remote=False)


def test_cors_is_off_unless_configured(api_queue_only, home):
    import httpx

    pre = {"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"}
    r = httpx.options(f"{api_queue_only.url}/api/v1/tasks", headers=pre)
    assert "access-control-allow-origin" not in r.headers
    from agent_agency_cli.api.app import create_app
    from agent_agency_cli.api.server import start_in_thread

    server = start_in_thread(create_app(home=home, start_engine=False, cors_origins=["http://ok.example"]))
    try:
        r = httpx.options(f"{server.url}/api/v1/tasks", headers={**pre, "Origin": "http://ok.example"})
        assert r.headers["access-control-allow-origin"] == "http://ok.example"
        r = httpx.options(f"{server.url}/api/v1/tasks", headers=pre)
        assert "access-control-allow-origin" not in r.headers
    finally:
        server.stop()


def test_no_secret_in_responses(api_queue_only):
    secret = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    with api_queue_only.client() as c:
        r = c.post("/api/v1/tasks", json={"description": f"deploy with token {secret}", "plan": PLAN})
        assert r.status_code in (201, 422), r.text
        assert secret not in r.text
        assert secret not in c.get("/api/v1/tasks").text


def test_the_readme_curl_example_request_runs(api):
    from tests.conftest import EXAMPLES

    body = json.loads((EXAMPLES / "api-request.json").read_text())
    with api.client() as c:
        r = c.post("/api/v1/tasks", json=body)
        assert r.status_code == 201, r.text
        tid = r.json()["id"]
        assert r.json()["mode"] == "strict" and r.json()["priority"] == "high"
        assert r.json()["stakeholders"] == body["stakeholders"] == ["security_team", "backend_team"]
        _wait_status(c, tid, "awaiting_approval")
        r = c.post(f"/api/v1/tasks/{tid}/approve", json={"all_remaining": True})
        assert r.status_code == 200, r.text
        done = _wait_status(c, tid, "completed", "partially_completed", "failed")
        result = c.get(f"/api/v1/tasks/{tid}/result").json()
    assert [(s["name"], s["status"]) for s in done["steps"]] == [
        ("design", "completed"), ("implement", "completed"), ("test", "completed")]
    # Echo steps prove none of "secure, scalable, tested": the final review says so.
    assert done["status"] == "partially_completed" and result["gaps"]


def test_the_monitor_is_served_with_a_strict_content_policy(api_queue_only):
    import httpx

    r = httpx.get(f"{api_queue_only.url}/")
    assert r.status_code == 200 and "<title>agent-agency-cli · monitor</title>" in r.text
    assert r.headers["content-security-policy"].startswith("default-src 'self'")
    assert "unsafe-inline" not in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
    for name in ("app.js", "monitor.js", "app.css"):
        assert httpx.get(f"{api_queue_only.url}/static/{name}").status_code == 200


GROUP_PLAN = {"steps": [{"name": "setup", "run": "true"},
                        {"name": "lint", "run": "echo lint", "needs": ["setup"]},
                        {"name": "test", "run": "echo test", "needs": ["setup"]},
                        {"name": "ship", "run": "true", "needs": ["lint", "test"]}]}


def test_a_task_submitted_with_hold_waits_for_the_release_route(api):
    with api.client() as c:
        r = c.post("/api/v1/tasks", json={"description": "held over http", "plan": PLAN, "hold": True})
        assert r.status_code == 201, r.text
        tid = r.json()["id"]
        assert (r.json()["status"], r.json()["held"]) == ("queued", True)
        other = c.post("/api/v1/tasks", json={"description": "not held", "plan": PLAN}).json()["id"]
        _wait_status(c, other, "completed")  # the engine ran past the held one
        held = c.get(f"/api/v1/tasks/{tid}").json()
        assert (held["status"], held["held"]) == ("queued", True)
        r = c.post(f"/api/v1/tasks/{tid}/release")
        assert r.status_code == 200, r.text
        assert r.json() == {"task_id": tid, "message": f"released task {tid} (queued for the engine)"}
        assert _wait_status(c, tid, "completed")["held"] is False
        again = c.post(f"/api/v1/tasks/{tid}/release")
        assert again.status_code == 409 and "not held" in again.json()["detail"]
        assert c.post("/api/v1/tasks/nosuch/release").status_code == 404


def test_a_held_dry_run_over_http_is_simulated_by_the_release(api_queue_only):
    with api_queue_only.client() as c:
        r = c.post("/api/v1/tasks", json={"plan": PLAN, "execution_mode": "dry-run", "hold": True})
        tid = r.json()["id"]
        assert [s["status"] for s in r.json()["steps"]] == ["pending", "pending"]
        r = c.post(f"/api/v1/tasks/{tid}/release")
        assert r.status_code == 200 and "simulated (dry run)" in r.json()["message"]
        assert c.get(f"/api/v1/tasks/{tid}").json()["status"] == "completed"


def test_approve_with_group_over_http_runs_the_group_without_asking(api):
    with api.client() as c:
        tid = c.post("/api/v1/tasks", json={"execution_mode": "strict", "plan": GROUP_PLAN}).json()["id"]
        wait_for(lambda: (c.get(f"/api/v1/tasks/{tid}").json()["approval"] or {}).get("step") == "setup", timeout=30)
        assert c.post(f"/api/v1/tasks/{tid}/approve", json={}).status_code == 200
        first = wait_for(lambda: (c.get(f"/api/v1/tasks/{tid}").json()["approval"] or {}).get("step")
                         in ("lint", "test") and c.get(f"/api/v1/tasks/{tid}").json()["approval"]["step"], timeout=30)
        bad = c.post(f"/api/v1/tasks/{tid}/approve", json={"group": True, "all_remaining": True})
        assert bad.status_code == 422 and "cannot go together" in bad.text
        r = c.post(f"/api/v1/tasks/{tid}/approve", json={"group": True})
        assert r.status_code == 200, r.text
        assert "parallel group" in r.json()["message"]
        wait_for(lambda: (c.get(f"/api/v1/tasks/{tid}").json()["approval"] or {}).get("step") == "ship", timeout=30)
        assert c.post(f"/api/v1/tasks/{tid}/approve", json={}).status_code == 200
        _wait_status(c, tid, "completed")
        events = c.get(f"/api/v1/tasks/{tid}/events").json()
    assert [e["step"] for e in events if e["kind"] == "approval_requested"] == ["setup", first, "ship"]
