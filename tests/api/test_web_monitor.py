"""The web monitor in a real headless Chromium: a strict task approved from the browser."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import skip_module_unless_installed

skip_module_unless_installed("fastapi", "the API tests need the 'api' extra: pip install -e '.[dev,api]'")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install -y chromium)")
PLAN = {"steps": [{"name": "fetch-sources", "run": "echo fetched", "estimate": "0.2s"},
                  {"name": "build", "run": "echo built", "needs": ["fetch-sources"], "estimate": "0.5s"},
                  {"name": "docs", "run": "echo docs", "needs": ["fetch-sources"], "estimate": "0.3s"}]}


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright (dev extra)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield b
        finally:
            b.close()


def _shots_dir(tmp_path: Path) -> Path:
    d = Path(os.environ.get("AGENCY_SCREENSHOTS", tmp_path))
    d.mkdir(parents=True, exist_ok=True)
    return d


def test_approve_a_strict_task_from_the_browser(api, browser, tmp_path):
    from playwright.sync_api import expect

    with api.client() as c:
        tid = c.post("/api/v1/tasks", json={"description": "Build the service (strict)", "execution_mode": "strict",
                                            "plan": PLAN}).json()["id"]
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{api.url}/#token={api.token}")
    # The token leaves the address bar at once and stays in this tab's sessionStorage only.
    expect(page.locator(f'tr[data-id="{tid}"]')).to_be_visible()
    assert "token" not in page.url
    assert page.evaluate("sessionStorage.getItem('agencyToken')") == api.token
    page.locator(f'tr[data-id="{tid}"] a').click()
    steps = page.locator("#steps li")
    expect(steps).to_have_count(3)
    expect(page.locator("#steps li[data-step=build] .needs")).to_have_text("after fetch-sources")
    for _ in range(3):
        expect(page.locator("#approval")).to_be_visible(timeout=30_000)
        waiting = page.locator("#ap-step").inner_text()
        expect(page.locator(f"#steps li[data-step='{waiting}']")).to_have_attribute("data-status", "awaiting_approval")
        if waiting == "build":
            page.screenshot(path=str(_shots_dir(tmp_path) / "monitor-wide.png"), full_page=True)
        # Keyboard only: the approve button has focus; Enter presses it.
        expect(page.locator("#btn-approve")).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator(f"#steps li[data-step='{waiting}']")).not_to_have_attribute(
            "data-status", "awaiting_approval", timeout=30_000)
    expect(page.locator("#t-status")).to_contain_text("completed", timeout=30_000)
    expect(page.locator("#steps li[data-status=completed]")).to_have_count(3)
    expect(page.locator("#log")).to_contain_text("built")
    expect(page.locator("#events")).to_contain_text("approved")
    with api.client() as c:
        status = c.get(f"/api/v1/tasks/{tid}").json()
    assert status["status"] == "completed"
    assert {i["who"] for i in status["interventions"]} == {"api:default@127.0.0.1"}

    narrow = browser.new_page(viewport={"width": 380, "height": 740})
    narrow.goto(f"{api.url}/#token={api.token}")
    narrow.locator(f'tr[data-id="{tid}"] a').click()
    expect(narrow.locator("#t-status")).to_contain_text("completed")
    expect(narrow.locator("#log")).to_contain_text("[build] built")
    # Nothing wider than the window: no sideways scrolling on a phone.
    assert narrow.evaluate("document.documentElement.scrollWidth") <= 380
    narrow.screenshot(path=str(_shots_dir(tmp_path) / "monitor-narrow.png"), full_page=True)


def test_reject_from_the_browser_and_a_wrong_token_asks_again(api, browser):
    from playwright.sync_api import expect

    with api.client() as c:
        tid = c.post("/api/v1/tasks", json={"description": "Reject me (strict)", "execution_mode": "strict",
                                            "plan": PLAN}).json()["id"]
    page = browser.new_page(viewport={"width": 1000, "height": 700})
    page.goto(f"{api.url}/#token=not-the-token-at-all")
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#login-error")).to_contain_text("refused")
    page.fill("#token-input", api.token)
    page.keyboard.press("Enter")
    page.goto(f"{api.url}/#/tasks/{tid}")
    expect(page.locator("#approval")).to_be_visible(timeout=30_000)
    page.keyboard.press("x")
    expect(page.locator("#reject-reason")).to_be_focused()
    page.keyboard.type("not today")
    page.click("#btn-reject")
    expect(page.locator("#t-status")).to_contain_text("failed", timeout=30_000)
    with api.client() as c:
        assert c.get(f"/api/v1/tasks/{tid}").json()["status"] == "failed"


def test_the_seeds_task_monitor_reports_progress_until_the_task_ends(api, browser):
    plan = {"steps": [{"name": f"s{i}", "run": f"echo {i}", "needs": [f"s{i - 1}"] if i else []} for i in range(4)]}
    with api.client() as c:
        tid = c.post("/api/v1/tasks", json={"description": "monitored from a page", "plan": plan}).json()["id"]
    page = browser.new_page()
    page.goto(f"{api.url}/")
    # The seed's example: taskMonitor.onProgress((progress) => ... progress.overall_progress * 100 ...)
    got = page.evaluate("""([tid, token]) => new Promise((resolve) => {
        const seen = [];
        const events = [];
        new TaskMonitor(tid, { token })
          .onProgress((p) => seen.push([p.task_id, p.overall_progress * 100, p.status]))
          .onEvent((ev) => events.push(ev.id))
          .onEnd((end) => resolve({ seen, events, end }));
    })""", [tid, api.token])
    assert got["end"] == {"task_id": tid, "status": "completed", "exit_code": 0}
    percents = [p[1] for p in got["seen"]]
    assert percents == sorted(percents) and percents[-1] == 100.0
    assert {p[0] for p in got["seen"]} == {tid} and got["seen"][-1][2] == "completed"
    with api.client() as c:
        stored = [e["id"] for e in c.get(f"/api/v1/tasks/{tid}/events").json()]
    assert got["events"] == stored


def _proc_state(pid: int) -> str | None:
    """The state letter in /proc/PID/stat (T = stopped), None once the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _stopped(pid: int) -> bool:
    """Stopped by SIGSTOP: state T; or D with every child stopped (dash vfork()s the loop's
    `sleep`: a parent caught waiting for its stopped vfork child shows D until resumed)."""
    state = _proc_state(pid)
    if state == "T":
        return True
    if state != "D":
        return False
    try:
        kids = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return False
    return bool(kids) and all(_proc_state(k) == "T" for k in kids)


def test_pause_and_resume_from_the_browser_stop_and_continue_the_process(api, browser, tmp_path):
    from playwright.sync_api import expect

    from tests.conftest import wait_for

    pidfile, go = tmp_path / "step.pid", tmp_path / "go"
    # The step records its pid, then waits for the test's file: it is running (or stopped) until then.
    run = f"echo $$ > {pidfile}; while [ ! -e {go} ]; do sleep 0.02; done; echo went on"
    with api.client() as c:
        tid = c.post("/api/v1/tasks", json={"description": "Pause me from the browser",
                                            "plan": {"steps": [{"name": "wait", "run": run}]}}).json()["id"]
    page = browser.new_page(viewport={"width": 1000, "height": 700})
    page.goto(f"{api.url}/#token={api.token}")
    page.locator(f'tr[data-id="{tid}"] a').click()
    expect(page.locator("#steps li[data-step=wait]")).to_have_attribute("data-status", "running", timeout=30_000)
    pid = int(wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), timeout=30))  # type: ignore[arg-type]
    assert _proc_state(pid) not in (None, "T")
    with api.client() as c:  # the engine has recorded the step's process (what pause signals)
        wait_for(lambda: c.get(f"/api/v1/tasks/{tid}").json()["steps"][0].get("pid"), timeout=30)

    expect(page.locator("#btn-pause")).to_be_enabled()
    page.click("#btn-pause")
    expect(page.locator("#t-status")).to_contain_text("paused", timeout=30_000)
    expect(page.locator("#btn-resume")).to_be_enabled()
    expect(page.locator("#btn-pause")).to_be_disabled()
    # The process really stops (SIGSTOP of its group): state T.
    try:
        wait_for(lambda: _stopped(pid), timeout=30)
    except AssertionError:
        with api.client() as c:
            now = c.get(f"/api/v1/tasks/{tid}").json()
        raise AssertionError(f"step pid {pid} is in state {_proc_state(pid)!r}, not T; task {now['status']}, "
                             f"step {now['steps'][0]['status']} pid {now['steps'][0].get('pid')}") from None
    go.touch()  # a stopped process does not see it until resumed
    with api.client() as c:
        assert c.get(f"/api/v1/tasks/{tid}").json()["status"] == "paused"

    page.keyboard.press("r")  # the keyboard path of the Resume button
    expect(page.locator("#t-status")).to_contain_text("completed", timeout=30_000)
    expect(page.locator("#log")).to_contain_text("went on")
    with api.client() as c:
        status = c.get(f"/api/v1/tasks/{tid}", params={}).json()
        kinds = [e["kind"] for e in c.get(f"/api/v1/tasks/{tid}/events").json()]
    assert status["status"] == "completed"
    assert kinds.index("task_paused") < kinds.index("task_resumed") < kinds.index("task_completed")
    assert {i["kind"] for i in status["interventions"]} >= {"pause", "resume"}
    assert {i["who"] for i in status["interventions"]} == {"api:default@127.0.0.1"}
