"""Errors as RFC 7807 problem details, with the meaning of the CLI's exit codes."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent_agency_cli.errors import (
    EXIT_BAD_INPUT,
    EXIT_CANCELLED,
    EXIT_CONFLICT,
    EXIT_FAILED,
    EXIT_NOT_FOUND,
    AgencyError,
    DaemonError,
)

HTTP_FOR_EXIT = {EXIT_BAD_INPUT: 422, EXIT_NOT_FOUND: 404, EXIT_CONFLICT: 409, EXIT_CANCELLED: 409}
EXIT_FOR_HTTP = {400: EXIT_BAD_INPUT, 401: EXIT_BAD_INPUT, 403: EXIT_BAD_INPUT, 404: EXIT_NOT_FOUND,
                 405: EXIT_BAD_INPUT, 409: EXIT_CONFLICT, 411: EXIT_BAD_INPUT, 413: EXIT_BAD_INPUT,
                 422: EXIT_BAD_INPUT}
TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
          409: "Conflict", 411: "Length required", 413: "Request too large", 422: "Bad input",
          500: "Internal error", 503: "Engine unavailable"}


def problem(status: int, detail: str, instance: str | None = None, headers: dict[str, str] | None = None,
            exit_code: int | None = None) -> JSONResponse:
    body = {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status, "detail": detail,
            "exit_code": exit_code if exit_code is not None else EXIT_FOR_HTTP.get(status, EXIT_FAILED),
            "instance": instance}
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def _validation_detail(errors: list[dict[str, Any]]) -> tuple[int, str]:
    """One line for the first error; never echoes the input (it may hold a secret)."""
    err = errors[0]
    if err.get("type") == "json_invalid":
        return 400, f"the body is not valid JSON ({err.get('ctx', {}).get('error', 'parse error')})"
    loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return 422, f"{loc}: {err.get('msg', 'invalid')}{more}"


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document."""

    @app.exception_handler(AgencyError)
    async def _agency(request: Request, exc: AgencyError) -> JSONResponse:
        status = HTTP_FOR_EXIT.get(exc.exit_code)
        if status is None:
            status = 503 if isinstance(exc, DaemonError) else 500
        return problem(status, str(exc), request.url.path, exit_code=exc.exit_code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, detail = _validation_detail(list(exc.errors()))
        return problem(status, detail, request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "error")
        return problem(exc.status_code, detail, request.url.path, headers=getattr(exc, "headers", None))
