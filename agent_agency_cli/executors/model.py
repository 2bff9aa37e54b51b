"""Model steps: a prompt template sent to an OpenAI-compatible endpoint, the answer
streamed into the step log and kept as the step's output.

The model chain comes from the step's stored selection (planning/selection.py):
each model is tried with same-endpoint retries; when its endpoint keeps failing
(rate limit, 5xx, connection, timeout, open breaker) the step moves to the next
model, each move an event with its reason. A bad request (400/422) or an answer
that fails its JSON Schema after one repair round is the step's own failure.
API keys never reach the log, events or the database: their values are masked.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_agency_cli.errors import AgencyError
from agent_agency_cli.event_kinds import EventKind
from agent_agency_cli.executors.base import StepOutcome
from agent_agency_cli.executors.templates import TemplateError, render
from agent_agency_cli.rows import StepSpec

if TYPE_CHECKING:
    import anyio

    from agent_agency_cli.executors.model_client import Endpoint
    from agent_agency_cli.executors.registry import AttemptContext

PREVIEW = 2000  # characters of the answer kept in the step's result (the full text is in its output file)


def outputs_dir(workspace: Path) -> Path:
    """Where every model step's full answer is kept (tasks/<id>/outputs/)."""
    return workspace.parent / "outputs"


def json_problems(text: str, schema: dict[str, Any] | None) -> list[str]:
    """Why an answer is not the JSON asked for (empty when it is)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        return [f"not valid JSON: {exc}"]
    if schema is None:
        return []
    import jsonschema  # lazy: the 'ai' extra

    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
            for e in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))][:10]


def response_format_of(spec: StepSpec) -> dict[str, Any] | None:
    if spec.response_format != "json":
        return None
    if spec.json_schema:
        return {"type": "json_schema", "json_schema": {"name": "step_output", "schema": spec.json_schema}}
    return {"type": "json_object"}


class AnswerLog:
    """Streams an answer into the step log as it arrives: each complete line at once, and a
    long line without a newline in pieces of about WRAP characters (cut at a space), so
    `task logs --follow` shows a one-paragraph answer being written."""

    WRAP = 100

    def __init__(self, log: Any):
        self.log = log
        self.buf = ""

    def feed(self, piece: str) -> None:
        self.buf += piece
        *lines, self.buf = self.buf.split("\n")
        for line in lines:
            self.log.line("out", line.rstrip("\r"))
        while len(self.buf) > self.WRAP:
            cut = self.buf.rfind(" ", 0, self.WRAP + 1)
            cut = cut + 1 if cut > 0 else self.WRAP
            self.log.line("out", self.buf[:cut].rstrip())
            self.buf = self.buf[cut:]

    def end(self) -> None:
        if self.buf:
            self.log.line("out", self.buf)
            self.buf = ""


class ModelHandle:
    """One attempt of a model step."""

    pid: int | None = None

    def __init__(self, ctx: AttemptContext):
        import anyio  # here, not at import: `task status` describes model steps without it

        self.ctx = ctx
        self.spec = ctx.spec
        self._running = anyio.Event()
        self._running.set()
        self._secrets: list[str] = []
        self._rows: list[tuple[str, tuple[Any, ...]]] = []  # successful calls' model_calls rows
        self._scope: anyio.CancelScope | None = None
        self._model: str | None = None  # the model trying the step now: learning blames a failure on it

    # -- masking ------------------------------------------------------------------

    def _mask(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, "****")
        return text

    def _install_mask(self, secrets: list[str]) -> None:
        self._secrets = [s for s in secrets if s]
        if not self._secrets:
            return
        inner = self.ctx.log.mask
        self.ctx.log.mask = (lambda t: self._mask(inner(t))) if inner else self._mask

    def _sys(self, text: str) -> None:
        self.ctx.log.line("sys", self._mask(text))

    def _emit(self, kind: str, payload: dict[str, Any]) -> None:
        self.ctx.emit(kind, json.loads(self._mask(json.dumps(payload))))

    # -- the attempt --------------------------------------------------------------

    async def run(self) -> StepOutcome:
        import anyio  # lazy: keeps start-up light

        with anyio.CancelScope() as scope:
            self._scope = scope
            try:
                return await self._run()
            except AgencyError as exc:
                reason = self._mask(str(exc))
                self._sys(reason)
                return StepOutcome(ok=False, reason=reason, extra={"target_ok": True})
        return StepOutcome(ok=False, reason="cancelled", extra={"target_ok": True})

    def _chain(self) -> tuple[list[str], dict[str, Any]]:
        from agent_agency_cli.planning.selection import select_model  # lazy: keeps start-up light

        sel = self.spec.selection
        if not sel:
            sel = select_model(self.spec.type, self.ctx.task_text.get("requirements", []),
                               self.ctx.settings.models, self.spec.model).to_json()
        chain: list[str] = []
        for m in [sel["primary"], *sel.get("fallbacks", [])]:
            if m not in chain:
                chain.append(m)
        return chain, sel

    def _messages(self) -> list[dict[str, Any]]:
        text = self.ctx.task_text
        kw = {"description": text.get("description", ""), "requirements": text.get("requirements", []),
              "step_output": self.ctx.step_output}
        try:
            prompt = render(self.spec.prompt or "", **kw)
            system = render(self.spec.system, **kw) if self.spec.system else None
        except TemplateError as exc:
            raise _StepError(f"prompt: {exc}") from None
        messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": prompt})
        return messages

    async def _run(self) -> StepOutcome:
        from agent_agency_cli.executors.model_client import require_openai, resolve  # lazy: keeps start-up light

        require_openai()
        chain, sel = self._chain()
        cfg = self.ctx.settings.models
        endpoints: list[Endpoint] = []
        problems: list[str] = []
        for name in chain:
            try:
                endpoints.append(resolve(name, cfg, self.ctx.env))
            except AgencyError as exc:
                problems.append(f"{name}: {exc}")
        self._install_mask([ep.api_key for ep in endpoints if ep.api_key])
        if not endpoints:
            return self._fail("; ".join(problems) or "no model to call", target_ok=True)
        try:
            messages = self._messages()
        except _StepError as exc:
            return self._fail(str(exc), target_ok=True)
        self._sys(f"model chain: {' -> '.join(chain)} ({sel.get('reasoning') or 'selected'})")
        reasons: list[str] = list(problems)
        for i, ep in enumerate(endpoints):
            self._model = ep.name
            outcome, why = await self._try_model(ep, messages)
            if outcome is not None:
                return outcome
            reasons.append(f"{ep.name}: {why}")
            if i + 1 < len(endpoints):
                nxt = endpoints[i + 1].name
                self._sys(f"moving from {ep.name} to {nxt}: {why}")
                self._emit(EventKind.MODEL_FALLBACK, {"from": ep.name, "to": nxt, "reason": why})
        return self._fail("every model failed: " + "; ".join(reasons))

    def _fail(self, reason: str, *, target_ok: bool = False) -> StepOutcome:
        reason = self._mask(reason)
        self._sys(reason)
        extra: dict[str, Any] = {"also": self._rows}
        if self._model is not None:  # learning: the model whose answer (or endpoint) failed the step
            extra["model"] = self._model
        if target_ok:
            extra["target_ok"] = True
        return StepOutcome(ok=False, reason=reason, extra=extra)

    async def _try_model(self, ep: Endpoint, messages: list[dict[str, Any]]) -> tuple[StepOutcome | None, str]:
        """(outcome, "") when this model settled the step; (None, why) to move on."""
        # lazy: keeps start-up light
        from agent_agency_cli.executors.model_client import call_with_retries, client_for, rough_tokens

        if ep.context is not None:
            need = rough_tokens(messages) + (self.spec.max_tokens or 0)
            if need > ep.context:
                return None, f"the prompt (~{need} tokens with max_tokens) does not fit its context of {ep.context}"

        breakers = self.ctx.breakers
        bset = self.ctx.settings.recovery.breakers
        trial = False
        if breakers is not None:
            decision = breakers.check(ep.breaker, bset, time.time())
            if not decision.allowed:
                return None, f"circuit open ({decision.reason or 'too many failures'})"
            trial = bool(decision.trial)
        client = client_for(ep, self.ctx.services)
        spec = self.spec
        log = self.ctx.log

        def on_call(res: Any) -> None:
            call = json.loads(self._mask(json.dumps(res.record(ep))))
            if res.ok:  # written with the step's completion, in its transaction (no commit of its own)
                from agent_agency_cli.store.model_calls import call_row  # lazy: keeps start-up light

                self._rows.append(call_row(self.ctx.task_id, self.ctx.step, self.ctx.attempt, call))
            else:  # a failure is recorded at once: it matters even if the step never completes
                self.ctx.record_call(call)

        def on_retry(reason: str, delay: float, retry: int) -> None:
            answer.end()  # a partial answer of the failed try keeps its own lines
            msg = f"{ep.name}: {reason}; retry {retry} of {ep.retries} in {delay:.2f}s"
            self._sys(msg)
            self._emit(EventKind.MODEL_RETRY, {"model": ep.name, "reason": reason, "delay": delay, "retry": retry})

        answer = AnswerLog(log)
        kwargs: dict[str, Any] = dict(
            on_call=on_call, on_retry=on_retry, sleep=self._sleep, stream=True,
            on_text=answer.feed, response_format=response_format_of(spec),
            max_tokens=spec.max_tokens, temperature=spec.temperature,
            wait_running=self._wait_running,
        )
        self._sys(f"model {ep.name} ({ep.model_id} at {ep.base_url})")
        try:
            res = await call_with_retries(ep, client, messages, **kwargs)
            answer.end()
        except BaseException:  # cancelled (task cancel, timeout): says nothing about the endpoint
            if breakers is not None and trial:
                breakers.release_trial(ep.breaker, time.time())
            raise
        if breakers is not None:
            # A bad request (400/422) is the step's fault: the endpoint answered, so it counts as alive.
            breakers.record(ep.breaker, bset, res.ok or res.bad_request, time.time(), trial=trial)
        if not res.ok:
            if res.bad_request:
                return self._fail(f"{ep.name} rejected the request: {res.error}", target_ok=True), ""
            return None, res.error or "error"
        if spec.response_format == "json":
            problems = json_problems(res.text, spec.json_schema)
            if problems:
                self._sys("answer is not the JSON asked for; one repair round: " + "; ".join(problems))
                self._emit(EventKind.MODEL_REPAIR, {"model": ep.name, "problems": problems})
                repair = [*messages, {"role": "assistant", "content": res.text},
                          {"role": "user", "content": "Your answer is not valid: " + "; ".join(problems)
                           + ". Answer again with only the corrected JSON."}]
                res2 = await call_with_retries(ep, client, repair, **kwargs)
                answer.end()
                if not res2.ok:
                    return (self._fail(f"{ep.name} rejected the repair: {res2.error}", target_ok=True), "") \
                        if res2.bad_request else (None, res2.error or "error")
                problems = json_problems(res2.text, spec.json_schema)
                if problems:
                    return self._fail("answer failed its JSON Schema after one repair: " + "; ".join(problems),
                                      target_ok=True), ""
                res = res2
        return self._succeed(ep, res), ""

    def _succeed(self, ep: Endpoint, res: Any) -> StepOutcome:
        text = res.text
        if len(text) > PREVIEW:  # a short answer is whole in the step's result; a long one gets a file
            out_dir = outputs_dir(self.ctx.workspace)
            if not self.ctx.cache.get("model.outputs_dir"):
                out_dir.mkdir(parents=True, exist_ok=True)
                self.ctx.cache["model.outputs_dir"] = True
            (out_dir / f"{self.ctx.step}.txt").write_text(text, encoding="utf-8")
        result: dict[str, Any] = {
            "model": ep.name, "output": text if len(text) <= PREVIEW else text[:PREVIEW] + "…",
            "finish_reason": res.finish_reason, "tokens_in": res.tokens_in, "tokens_out": res.tokens_out,
            "cost": res.cost,
        }
        if self.spec.output:
            path = self.ctx.cwd / self.spec.output
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            result["output_file"] = str(path)
        if self.spec.response_format == "json":
            result["json"] = json.loads(text)
        self._sys(f"answered by {ep.name}: {res.tokens_in} tokens in, {res.tokens_out} out, "
                  f"finish {res.finish_reason}")
        return StepOutcome(ok=True, exit_code=0, result=result, extra={"also": self._rows})

    async def _sleep(self, delay: float) -> None:
        import anyio  # lazy: keeps start-up light

        await anyio.sleep(delay)
        await self._wait_running()

    async def _wait_running(self) -> None:
        if not self._running.is_set():
            await self._running.wait()

    def pause(self) -> None:
        # An HTTP stream cannot be stopped; the step stops reading (and retrying) until resumed.
        import anyio

        if self._running.is_set():
            self._running = anyio.Event()

    def resume(self) -> None:
        self._running.set()

    async def stop(self, grace: float) -> None:
        self._running.set()
        if self._scope is not None:
            self._scope.cancel()


class _StepError(Exception):
    pass


class ModelExecutor:
    """`model:` steps."""

    kind = "model"
    plan_key = "model"
    samples_processes = False

    def make_handle(self, ctx: AttemptContext) -> ModelHandle:
        if ctx.spec.tools:  # a model step with tools: the agent loop
            from agent_agency_cli.executors.agent import AgentHandle  # lazy: executors.agent imports this module back

            return AgentHandle(ctx)
        return ModelHandle(ctx)

    def breaker_target(self, spec: StepSpec) -> tuple[str, Any]:
        # The step-level breaker guards the whole chain; each endpoint has its own inside the step.
        sel = spec.selection or {}
        chain = [sel.get("primary") or spec.model, *sel.get("fallbacks", [])]
        return "model", "models " + ",".join(str(m) for m in chain)

    def describe(self, spec: StepSpec) -> str:
        sel = spec.selection or {}
        model = sel.get("primary") or spec.model
        prompt = " ".join(str(spec.prompt or "").split())
        return f"model {model}: {prompt[:80]}{'…' if len(prompt) > 80 else ''}"


EXECUTOR = ModelExecutor()
