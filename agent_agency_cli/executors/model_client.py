"""Calls to OpenAI-compatible endpoints through the official `openai` SDK.

One call (`call_once`: streamed or not, with usage, time to first token and cost),
the same-endpoint retry ladder (`call_with_retries`: 429 honouring Retry-After, 5xx,
connection errors and timeouts, with backoff), and what an error means: a bad
request (400/422) is the caller's fault, anything else is the endpoint's.
The SDK is imported here only, when a call is made.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

from agent_agency_cli.errors import BadInputError

AI_EXTRA_HINT = "model steps need the 'ai' extra: pip install 'agent-agency-cli[ai]'"
BAD_REQUEST = (400, 413, 422)


def require_openai() -> Any:
    """The `openai` module, or one clear line naming the extra."""
    try:
        import openai  # lazy: the 'ai' extra
    except ImportError:
        raise BadInputError(AI_EXTRA_HINT) from None
    return openai


@dataclass
class Endpoint:
    """A configured model and its provider, resolved for calling."""

    name: str  # the model's name in the config
    model_id: str  # what the provider calls it
    provider: str
    base_url: str
    api_key: str | None
    timeout: float
    retries: int
    backoff_initial: float
    backoff_max: float
    price_in: float
    price_out: float
    context: int | None = None  # tokens

    @property
    def breaker(self) -> str:
        return f"model endpoint {self.base_url}"


def resolve(name: str, models_cfg: Any, env: dict[str, str] | None = None) -> Endpoint:
    """The endpoint of a configured model; BadInputError when it or its key is missing."""
    entry = models_cfg.models.get(name)
    if entry is None:
        raise BadInputError(f"model {name!r} is not configured (add it under models.models)")
    prov = models_cfg.providers[entry.provider]
    key = None
    if prov.api_key_env:
        key = (env if env is not None else os.environ).get(prov.api_key_env)
        if not key:
            raise BadInputError(f"provider {entry.provider!r} needs its API key in ${prov.api_key_env} "
                                "(set that environment variable)")
    return Endpoint(name, entry.id or name, entry.provider, prov.base_url.rstrip("/"), key, prov.timeout,
                    prov.retries, prov.backoff_initial, prov.backoff_max, entry.price_in, entry.price_out,
                    entry.context)


def rough_tokens(messages: list[dict[str, Any]]) -> int:
    """A cheap upper-side estimate of a prompt's tokens (about 4 characters each)."""
    return sum(len(str(m.get("content") or "")) for m in messages) // 4 + 4 * len(messages)


class ClientService:
    """An AsyncOpenAI client kept in a task's services (closed when the task's runner ends)."""

    def __init__(self, ep: Endpoint):
        openai = require_openai()
        # Retries are ours (with events and breakers), not the SDK's.
        self.client = openai.AsyncOpenAI(base_url=ep.base_url, api_key=ep.api_key or "not-needed",
                                         timeout=ep.timeout, max_retries=0)

    async def aclose(self) -> None:
        await self.client.close()


def client_for(ep: Endpoint, services: dict[str, Any]) -> Any:
    key = f"openai:{ep.base_url}:{hash(ep.api_key)}"
    svc = services.get(key)
    if svc is None:
        svc = services[key] = ClientService(ep)
    return svc.client


@dataclass
class CallResult:
    """How one call (or the last of its retries) ended."""

    ok: bool
    text: str = ""
    finish_reason: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency: float = 0.0
    ttft: float | None = None
    cost: float | None = None
    error: str | None = None
    http_status: int | None = None
    bad_request: bool = False  # the request's fault (400/422): no retry, no fallback
    retryable: bool = False  # a rate limit, 5xx, connection error, timeout or malformed answer
    retry_after: float | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    started_at: float = 0.0

    def record(self, ep: Endpoint, purpose: str = "step") -> dict[str, Any]:
        """The model_calls row of this call."""
        return {"model": ep.name, "provider": ep.provider, "endpoint": ep.base_url, "purpose": purpose,
                "status": "ok" if self.ok else "error", "http_status": self.http_status,
                "tokens_in": self.tokens_in, "tokens_out": self.tokens_out, "latency": self.latency,
                "ttft": self.ttft, "cost": self.cost, "finish_reason": self.finish_reason,
                "error": self.error, "started_at": self.started_at}


def _retry_after(headers: Any) -> float | None:
    value = headers.get("retry-after") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def classify(exc: BaseException) -> CallResult:
    """What an exception from the SDK means for the caller."""
    openai = require_openai()
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        msg = f"HTTP {status}: {getattr(exc, 'message', '') or exc}"
        return CallResult(ok=False, error=msg, http_status=status, bad_request=status in BAD_REQUEST,
                          retryable=status == 429 or status == 408 or status >= 500,
                          retry_after=_retry_after(exc.response.headers) if status in (429, 503) else None)
    if isinstance(exc, openai.APITimeoutError):
        return CallResult(ok=False, error="timeout", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return CallResult(ok=False, error=f"connection error: {exc}", retryable=True)
    return CallResult(ok=False, error=f"malformed answer: {type(exc).__name__}: {exc}", retryable=True)


async def call_once(ep: Endpoint, client: Any, messages: list[dict[str, Any]], *,
                    stream: bool = True, on_text: Callable[[str], Any] | None = None,
                    response_format: dict[str, Any] | None = None, max_tokens: int | None = None,
                    temperature: float | None = None, tools: list[dict[str, Any]] | None = None,
                    wait_running: Callable[[], Awaitable[None]] | None = None) -> CallResult:
    """One chat completion; never raises for an endpoint problem (see CallResult)."""
    kwargs: dict[str, Any] = {"model": ep.model_id, "messages": messages}
    if response_format is not None:
        kwargs["response_format"] = response_format
    if max_tokens is not None:
        kwargs["max_tokens"] = max_tokens
    if temperature is not None:
        kwargs["temperature"] = temperature
    if tools:
        kwargs["tools"] = tools
    started = time.time()
    t0 = time.perf_counter()
    res = CallResult(ok=False, started_at=started)
    try:
        if stream:
            parts: list[str] = []
            calls: dict[int, dict[str, Any]] = {}
            resp = await client.chat.completions.create(stream=True, stream_options={"include_usage": True},
                                                        **kwargs)
            seen = 0
            async for chunk in resp:
                seen += 1
                if chunk.usage is not None:
                    res.tokens_in, res.tokens_out = chunk.usage.prompt_tokens, chunk.usage.completion_tokens
                for choice in chunk.choices or []:
                    delta = choice.delta
                    if delta is not None and delta.content:
                        if res.ttft is None:
                            res.ttft = time.perf_counter() - t0
                        parts.append(delta.content)
                        if on_text is not None:
                            on_text(delta.content)
                    for tc in (delta.tool_calls or []) if delta is not None else []:
                        slot = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
                        slot["id"] = tc.id or slot["id"]
                        if tc.function is not None:
                            slot["name"] += tc.function.name or ""
                            slot["arguments"] += tc.function.arguments or ""
                    if choice.finish_reason:
                        res.finish_reason = choice.finish_reason
                if wait_running is not None:
                    await wait_running()
            if not seen or (res.finish_reason is None and not parts and not calls):
                raise ValueError("the stream held no completion (not an OpenAI-compatible answer)")
            res.text = "".join(parts)
            res.tool_calls = [calls[i] for i in sorted(calls)]
        else:
            resp = await client.chat.completions.create(**kwargs)
            choice = resp.choices[0]
            res.text = choice.message.content or ""
            res.finish_reason = choice.finish_reason
            res.tool_calls = [{"id": tc.id, "name": tc.function.name, "arguments": tc.function.arguments}
                              for tc in (choice.message.tool_calls or [])]
            if resp.usage is not None:
                res.tokens_in, res.tokens_out = resp.usage.prompt_tokens, resp.usage.completion_tokens
            res.ttft = time.perf_counter() - t0
        res.ok = True
    except Exception as exc:
        failed = classify(exc)
        failed.started_at = started
        res = failed
    res.latency = time.perf_counter() - t0
    if res.tokens_in is not None or res.tokens_out is not None:
        res.cost = round(((res.tokens_in or 0) * ep.price_in + (res.tokens_out or 0) * ep.price_out) / 1e6, 8)
    return res


def backoff_delay(ep: Endpoint, retry: int, retry_after: float | None) -> float:
    """Seconds before retry number `retry` (1-based): Retry-After when given, else exponential."""
    if retry_after is not None:
        return min(retry_after, ep.backoff_max)
    return min(ep.backoff_initial * (2 ** (retry - 1)), ep.backoff_max)


async def call_with_retries(ep: Endpoint, client: Any, messages: list[dict[str, Any]], *,
                            on_call: Callable[[CallResult], None],
                            on_retry: Callable[[str, float, int], None],
                            sleep: Callable[[float], Awaitable[None]],
                            **kwargs: Any) -> CallResult:
    """Call, retrying a retryable failure on the same endpoint up to `ep.retries` times."""
    retry = 0
    while True:
        res = await call_once(ep, client, messages, **kwargs)
        on_call(res)
        if res.ok or not res.retryable or retry >= ep.retries:
            return res
        retry += 1
        delay = backoff_delay(ep, retry, res.retry_after)
        on_retry(res.error or "error", delay, retry)
        await sleep(delay)
