"""Who may call what: API keys (bearer tokens) and per-client rate limits, as Annotated dependencies.

Routes declare what they need in their signature, e.g. `def submit(..., _: WriteAccess)`:
- WriteAccess: anything that changes state (jobs, the registry). Requires a key whenever keys are configured.
- ReadAccess: generation and exploration. Keyed only when GAN_PROTECT_GENERATION is set.
- Expensive: a token bucket per client address (429 with Retry-After) when GAN_RATE_LIMIT_PER_MINUTE > 0.
Answers never say which keys exist: a missing key is 401, a wrong one 403, both with the same text whatever
was sent, and every configured key is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.settings import Settings

# documents the scheme in OpenAPI; the checks below decide, so a missing header is our 401, not its 403
bearer = HTTPBearer(auto_error=False, description="an API key from GAN_API_KEYS")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _digest(key: str) -> bytes:
    # equal-length digests, so compare_digest's time does not depend on the length of the keys either
    return hashlib.sha256(key.encode()).digest()


class KeyRing:
    def __init__(self, keys: list[str]):
        self._digests = [_digest(k) for k in keys]

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def accepts(self, presented: str) -> bool:
        candidate = _digest(presented)
        found = False
        for digest in self._digests:  # no early exit: the time taken says nothing about which key matched
            found |= hmac.compare_digest(candidate, digest)
        return found


def _check_key(request: Request, credentials: HTTPAuthorizationCredentials | None) -> None:
    ring: KeyRing = request.app.state.keys
    if not ring.enabled:
        return
    if credentials is None or not credentials.credentials.strip():
        raise HTTPException(401, "an API key is required: send 'Authorization: Bearer <key>'",
                            headers={"WWW-Authenticate": "Bearer"})
    if not ring.accepts(credentials.credentials.strip()):
        raise HTTPException(403, "the API key is not valid", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


# The dependencies are `async def`: they only compare digests and count tokens, and FastAPI would run a plain
# `def` dependency in its thread pool, a thread hop per dependency per request (docs/benchmarks.md).
async def require_write_key(request: Request, credentials: Credentials) -> None:
    _check_key(request, credentials)


async def require_read_key(request: Request, credentials: Credentials) -> None:
    settings: Settings = request.app.state.settings
    if settings.protect_generation:
        _check_key(request, credentials)


class TokenBuckets:
    """One bucket per client: `burst` requests at once, refilled at `per_minute`; thread-safe."""

    MAX_CLIENTS = 10_000  # past this, full (idle) buckets are forgotten so memory stays bounded

    def __init__(self, per_minute: float, burst: int, clock=time.monotonic):
        self.rate, self.burst, self.clock = per_minute / 60.0, max(1, burst), clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, last refill)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, client: str) -> float:
        """0 when the request may go ahead, else the seconds until a token is free."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[client] = (tokens - 1, now)
                wait = 0.0
            else:
                self._buckets[client] = (tokens, now)
                wait = (1 - tokens) / self.rate
            if len(self._buckets) > self.MAX_CLIENTS:
                self._forget_idle(now)
        return wait

    def _forget_idle(self, now: float) -> None:
        full = [c for c, (t, last) in self._buckets.items() if t + (now - last) * self.rate >= self.burst]
        for client in full:
            del self._buckets[client]


async def rate_limit(request: Request) -> None:
    buckets: TokenBuckets = request.app.state.rate_limits
    if not buckets.enabled:
        return
    client = request.client.host if request.client else "unknown"
    wait = buckets.take(client)
    if wait > 0:
        raise HTTPException(429, f"too many requests from {client}: try again in {math.ceil(wait)} s",
                            headers={"Retry-After": str(math.ceil(wait))})


def generation_guards(settings: Settings) -> list:
    """What generation and exploration need in front of them: nothing unless keys for them or rate limits are
    configured, as each dependency costs the event loop on every request."""
    guards = []
    if settings.protect_generation:
        guards.append(Depends(require_read_key))
    if settings.rate_limit_per_minute > 0:
        guards.append(Depends(rate_limit))
    return guards


def install(app, settings: Settings) -> None:
    app.state.keys = KeyRing(settings.api_key_list)
    app.state.rate_limits = TokenBuckets(settings.rate_limit_per_minute, settings.rate_limit_burst)


WriteAccess = Annotated[None, Depends(require_write_key)]
Expensive = Annotated[None, Depends(rate_limit)]
