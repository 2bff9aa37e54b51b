"""The orchestrator as an MCP server (stdio): the facade's calls as MCP tools.

Input schemas come from the API's models (TaskCreate for create_task); read tools carry
`readOnlyHint`. Interventions are audited as `mcp:<user>@<host>`. Works with the MCP SDK's
MCPServer (mcp 2) and FastMCP (mcp 1).
"""

from __future__ import annotations

import getpass
import socket
from collections import deque
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import Field

from agent_agency_cli.api.schemas import ApproveBody, TaskCreate
from agent_agency_cli.errors import AgencyError
from agent_agency_cli.models import HELD_OWNER

INSTRUCTIONS = ("Drive agent-agency-cli tasks: create_task queues a task (a plan as JSON in the "
                "plan-file schema, or only a description and requirements for the planner); "
                "task_status/list_tasks/task_logs read; pause/resume/cancel/approve/reject/release steer. Strict "
                "tasks wait in awaiting_approval until approve_task; held tasks until release_task.")
TaskIdArg = Annotated[str, Field(description="Task id or an unambiguous prefix of it.", min_length=1)]


def build_server(home: str | None = None, config: str | None = None,
                 orch_factory: Callable[[], Any] | None = None) -> Any:
    try:
        from mcp.server.mcpserver import MCPServer as Server  # lazy: the 'ai' extra
        from mcp.server.mcpserver.exceptions import ToolError  # lazy: the 'ai' extra
    except ImportError:  # mcp 1.x
        from mcp.server.fastmcp import FastMCP as Server  # lazy: the 'ai' extra
        from mcp.server.fastmcp.exceptions import ToolError  # lazy: the 'ai' extra
    from mcp.types import ToolAnnotations  # lazy: the 'ai' extra

    from agent_agency_cli.orchestrator import TaskOrchestrator, acting_as  # lazy: keeps start-up light

    if orch_factory is None:
        def orch_factory() -> Any:
            return TaskOrchestrator(home=home, config=config)

    try:
        who = f"mcp:{getpass.getuser()}@{socket.gethostname()}"
    except Exception:
        who = f"mcp:?@{socket.gethostname()}"

    def call(fn: Callable[[Any], Any]) -> Any:
        orch = orch_factory()
        try:
            with acting_as(who):
                return fn(orch)
        except AgencyError as exc:
            # A deliberate tool error: the client sees the same one line the CLI prints.
            raise ToolError(str(exc)) from None
        finally:
            orch.close()

    server = Server("agent-agency-cli", instructions=INSTRUCTIONS)
    read = ToolAnnotations(readOnlyHint=True, openWorldHint=False)
    write = ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=False)
    stop = ToolAnnotations(readOnlyHint=False, destructiveHint=True, openWorldHint=False)

    @server.tool(annotations=write)
    def create_task(task: TaskCreate) -> dict[str, Any]:
        """Validate and queue a task: description, priority, execution_mode, requirements, deadline, stakeholders
        and the plan inline ({"steps": [{"name": ..., "run": ...}]}), or no plan: the planner makes one from the
        description and requirements, as `task create` does; hold: true keeps it until release_task.
        Returns the task's status (its id is `id`)."""
        def submit(orch: Any) -> dict[str, Any]:

            return orch.get_status(orch.submit_task(task.request(), start_daemon=not task.hold,
                                                    reserve=HELD_OWNER if task.hold else None))

        return call(submit)

    @server.tool(annotations=read)
    def task_status(task_id: TaskIdArg) -> dict[str, Any]:
        """The task's status: progress, ETA, each step's status, the approval waiting (if any)."""
        return call(lambda o: o.get_status(task_id))

    @server.tool(annotations=read)
    def list_tasks(
        status: Annotated[list[str] | None, Field(description="Only these statuses (queued, running, ...).")] = None,
        limit: Annotated[int, Field(ge=1, le=1000)] = 50,
    ) -> dict[str, Any]:
        """Tasks, newest first, with status and progress."""
        return {"tasks": call(lambda o: o.list_tasks(status, limit))}

    @server.tool(annotations=read)
    def task_logs(
        task_id: TaskIdArg,
        step: Annotated[str | None, Field(description="Only this step's log.")] = None,
        tail: Annotated[int, Field(ge=1, le=5000, description="The last N lines.")] = 200,
    ) -> dict[str, Any]:
        """The last lines of the task's step logs (merged by time)."""

        lines = call(lambda o: deque(o.log_lines(task_id, step), maxlen=tail))
        return {"lines": [{"ts": ts, "step": s, "stream": st, "text": t} for ts, s, st, t in lines]}

    @server.tool(annotations=write)
    def pause_task(task_id: TaskIdArg) -> str:
        """Pause the task: no new step starts, running steps are stopped until resume_task."""
        return call(lambda o: o.pause(task_id))

    @server.tool(annotations=write)
    def resume_task(task_id: TaskIdArg) -> str:
        """Resume a paused or escalated task."""
        return call(lambda o: o.resume(task_id))

    @server.tool(annotations=stop)
    def cancel_task(task_id: TaskIdArg, reason: Annotated[str, Field(max_length=500)] = "cancelled via MCP") -> str:
        """Cancel the task (its running steps are terminated)."""
        return call(lambda o: o.cancel(task_id, reason))

    @server.tool(annotations=write)
    def approve_task(task_id: TaskIdArg, approval: ApproveBody | None = None) -> str:
        """Approve the step awaiting approval (strict mode); all_remaining approves the later ones too,
        group the other steps of its parallel group (they start without asking)."""
        a = approval or ApproveBody()
        return call(lambda o: o.approve(task_id, a.step, a.all_remaining, group=a.group))

    @server.tool(annotations=write)
    def release_task(task_id: TaskIdArg) -> str:
        """Release a task created with hold: true: the engine may run it now (a held dry run is
        simulated at once). An error when the task is not held."""
        from agent_agency_cli.api.release import release_message  # lazy: keeps start-up light

        return call(lambda o: release_message(o, o.release_task(task_id)))

    @server.tool(annotations=stop)
    def reject_task(task_id: TaskIdArg, reason: Annotated[str, Field(min_length=1, max_length=500)],
                    step: str | None = None) -> str:
        """Reject the step awaiting approval: it fails, and with it the task."""
        return call(lambda o: o.reject(task_id, reason, step))

    return server
