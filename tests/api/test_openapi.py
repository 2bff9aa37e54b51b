"""The served OpenAPI document, checked by schemathesis against the live server: no 5xx, and every
response matches its declared schema (problem documents included)."""

from __future__ import annotations

import pytest

from tests.conftest import skip_module_unless_installed

skip_module_unless_installed("fastapi", "the API tests need the 'api' extra: pip install -e '.[dev,api]'")

# Streams never end on their own; they have their own tests (test_api_sse.py).
STREAMS = ("/api/v1/progress", "/api/v1/tasks/{task_id}/progress")


def test_the_openapi_document_lists_every_endpoint(api_queue_only):
    with api_queue_only.client() as c:
        doc = c.get("/api/v1/openapi.json").json()
    paths = doc["paths"]
    assert doc["openapi"].startswith("3.")
    assert set(paths["/api/v1/tasks"]) == {"get", "post"}
    for action in ("pause", "resume", "cancel", "modify", "escalate", "override", "approve", "reject", "retry",
                   "release"):
        assert "post" in paths[f"/api/v1/tasks/{{task_id}}/{action}"], action
    for read in ("", "/result", "/logs", "/events", "/progress"):
        assert "get" in paths[f"/api/v1/tasks/{{task_id}}{read}"], read
    assert "409" in paths["/api/v1/tasks/{task_id}/pause"]["post"]["responses"]
    assert "text/event-stream" in paths["/api/v1/tasks/{task_id}/progress"]["get"]["responses"]["200"]["content"]


def test_schemathesis_finds_no_server_error_and_no_schema_mismatch(api_queue_only):
    # Imported here, not at module level: schemathesis (and hypothesis under it) costs every
    # xdist worker a second at collection. Its pytest plugin is off (pyproject addopts):
    # this test drives it as a library.
    schemathesis = pytest.importorskip("schemathesis", reason="the OpenAPI check needs schemathesis (dev extra)")
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    # Not "positive data acceptance": a schema-valid plan can still be refused by the validator
    # and the council (422), which is the behaviour the other tests pin down.
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

    with api_queue_only.client() as c:  # one real task, so generated ids sometimes hit it
        tid = c.post("/api/v1/tasks", json={"description": "fuzz target",
                                            "plan": {"steps": [{"name": "a", "run": "true"}]}}).json()["id"]
    schema = schemathesis.openapi.from_url(f"{api_queue_only.url}/api/v1/openapi.json")
    headers = {"Authorization": f"Bearer {api_queue_only.token}"}
    checked = 0
    for result in schema.get_all_operations():
        op = result.ok()
        if op.path in STREAMS:
            continue

        @settings(max_examples=4, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy(path_parameters={"task_id": tid} if "{task_id}" in op.path else None))
        def check(case: object) -> None:
            case.call_and_validate(base_url=api_queue_only.url, headers=headers, checks=checks)  # type: ignore[attr-defined]

        check()
        checked += 1
    assert checked >= 14
