"""Retry delays: exponential, linear or fixed backoff, capped, with jitter.

The one backoff policy: step retries (the engine) and webhook retries (notify)
both take their delays from `retry_delay`. Pure, no dependencies (layer 0).
"""

from __future__ import annotations

import random
from typing import Literal

Backoff = Literal["exponential", "linear", "fixed"]
BACKOFF_STRATEGIES: tuple[str, ...] = ("exponential", "linear", "fixed")

# 2**64 times any sane `initial` is far beyond any sane `max`; larger exponents
# would only risk an OverflowError before the cap is applied.
_MAX_EXPONENT = 64


def retry_delay(
    attempt: int,
    *,
    backoff: Backoff | str,
    initial: float,
    max: float,
    jitter: float,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before attempt `attempt + 1`, after `attempt` failures (attempt >= 1).

    exponential: initial * 2**(attempt-1); linear: initial * attempt; fixed: initial.
    The delay is capped at `max`, then moved by up to +-`jitter` (a fraction, e.g. 0.1
    = +-10%, uniform), and is never negative.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1 (the number of failures so far), got {attempt}")
    if not 0 <= jitter <= 1:
        raise ValueError(f"jitter must be a fraction between 0 and 1, got {jitter}")
    initial = float(initial)
    if backoff == "exponential":
        delay = initial * 2.0 ** min(attempt - 1, _MAX_EXPONENT)
    elif backoff == "linear":
        delay = initial * attempt
    elif backoff == "fixed":
        delay = initial
    else:
        raise ValueError(f"unknown backoff {backoff!r} (use one of: {', '.join(BACKOFF_STRATEGIES)})")
    delay = min(delay, float(max))
    if jitter:
        delay *= 1.0 + (rng or random).uniform(-jitter, jitter)
    return delay if delay > 0.0 else 0.0
