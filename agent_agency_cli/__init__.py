"""agent-agency-cli: run agent tasks end to end on one machine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["TaskOrchestrator", "TaskRequest", "__version__"]

if TYPE_CHECKING:
    from agent_agency_cli.orchestrator import TaskOrchestrator
    from agent_agency_cli.request import TaskRequest


def __getattr__(name: str) -> Any:
    # Lazy so that `import agent_agency_cli` (and the CLI's --help) stays cheap.
    if name == "TaskOrchestrator":
        from agent_agency_cli.orchestrator import TaskOrchestrator

        return TaskOrchestrator
    if name == "TaskRequest":
        from agent_agency_cli.request import TaskRequest

        return TaskRequest
    raise AttributeError(name)
