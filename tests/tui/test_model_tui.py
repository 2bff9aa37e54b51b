"""The TUI with model steps: the step details show the model and its calls; the modify
modal hot-swaps the model of steps not yet started."""

from __future__ import annotations

import pytest

from agent_agency_cli.orchestrator import TaskOrchestrator
from agent_agency_cli.tui.app import create_app
from tests.openai_server import OpenAIServer, write_config
from tests.tui.conftest import wait_until

pytestmark = pytest.mark.anyio

PLAN = {"steps": [{"name": "draft", "model": "m1", "prompt": "write"},
                  {"name": "polish", "model": "auto", "needs": ["draft"], "prompt": "{{ steps.draft.output }}"}]}


@pytest.fixture
def model_orch(home, tmp_path, monkeypatch):
    with OpenAIServer() as srv:
        config = write_config(tmp_path / "config.yaml", srv)
        monkeypatch.setenv("AGENT_AGENCY_CONFIG", str(config))
        o = TaskOrchestrator(home=home)
        yield o
        o.close()


async def test_details_show_the_model_and_modify_swaps_it(model_orch):
    orch = model_orch
    tid = orch.submit_task({"plan": PLAN, "description": "write a note"}, start_daemon=False)
    app = create_app(orch, tid)
    async with app.run_test(size=(100, 30)) as pilot:
        from textual.widgets import Input

        from agent_agency_cli.tui.modify_modal import ModifyModal

        details = app.screen.query_one("#details")
        await wait_until(pilot, lambda: "model m1 (then m2)" in details.render().plain, what="model in details")
        await pilot.press("m")
        modal = await wait_until(pilot, lambda: isinstance(app.screen, ModifyModal) and app.screen)
        assert modal.model_steps == {"draft": "m1", "polish": "m1"}
        modal.query_one("#models", Input).focus()
        await pilot.press(*"polish=m2", "enter")
        await wait_until(pilot, lambda: orch.get_status(tid)["steps"][1]["model"]["selected"] == "m2",
                         what="model swapped")
        assert orch.get_status(tid)["steps"][0]["model"]["selected"] == "m1"
