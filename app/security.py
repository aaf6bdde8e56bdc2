"""Who may call what: API keys (bearer tokens) and per-client rate limits.

- WriteAccess, in a route's signature: anything that changes state (jobs, the registry). Requires a key
  whenever keys are configured.
- Generation and exploration: keyed only when GAN_PROTECT_GENERATION is set, and rate limited when
  GAN_RATE_LIMIT is; `generation_guards` puts these in front of their routers only then.
- Expensive, in a route's signature: the rate limit (429 with Retry-After) of other costly requests.
Answers never say which keys exist: a missing key is 401, a wrong one 403, both with the same text whatever
was sent, and every configured key is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from limits import parse_many
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from app.settings import Settings

log = logging.getLogger(__name__)

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


# The dependencies are `async def`: FastAPI would run a plain `def` dependency in its thread pool, a thread hop
# per dependency per request.
async def require_write_key(request: Request, credentials: Credentials) -> None:
    _check_key(request, credentials)


async def require_read_key(request: Request, credentials: Credentials) -> None:
    settings: Settings = request.app.state.settings
    if settings.protect_generation:
        _check_key(request, credentials)


class RateLimit:
    """Per-client limits in the `limits` notation (e.g. "60/minute" or "10/second;100/minute"), counted in
    Redis so that every API replica shares them; while Redis is unreachable, each replica counts alone, in
    memory, says so in /readyz, and tries Redis again after RETRY_SHARED_S."""

    RETRY_SHARED_S = 5.0

    def __init__(self, spec: str, redis_url: str):
        self.items = parse_many(spec) if spec.strip() else []
        storage = RedisStorage(f"async+{redis_url}", implementation="redispy", wrap_exceptions=True,
                               key_prefix="gan-rate", socket_connect_timeout=0.5, socket_timeout=0.5)
        self._shared = MovingWindowRateLimiter(storage)
        self._alone = MovingWindowRateLimiter(MemoryStorage())
        self._shared_again_at = 0.0  # monotonic time; while it is ahead, Redis is taken to be away

    @property
    def enabled(self) -> bool:
        return bool(self.items)

    @property
    def shared(self) -> bool:
        return time.monotonic() >= self._shared_again_at

    async def wait_s(self, client: str) -> float:
        """0 when the request may go ahead, else the seconds until it may."""
        if self.shared:
            try:
                return await self._take(self._shared, client)
            except StorageError as e:
                log.warning("rate limits are counted per replica until Redis answers again: %s", e.storage_error)
                self._shared_again_at = time.monotonic() + self.RETRY_SHARED_S
        return await self._take(self._alone, client)

    async def _take(self, limiter: MovingWindowRateLimiter, client: str) -> float:
        for item in self.items:
            if not await limiter.hit(item, client):
                reset = (await limiter.get_window_stats(item, client)).reset_time
                return max(1.0, reset - time.time())
        return 0.0

    def describe(self) -> dict:
        """For /readyz."""
        if not self.enabled:
            return {"enabled": False}
        return {"enabled": True, "limits": [str(item) for item in self.items],
                "counted": "in redis, across replicas" if self.shared else "per replica: redis is unreachable"}


async def rate_limit(request: Request) -> None:
    limits: RateLimit = request.app.state.rate_limit
    client = request.client.host if request.client else "unknown"
    wait = await limits.wait_s(client)
    if wait > 0:
        raise HTTPException(429, f"too many requests from {client}: try again in {math.ceil(wait)} s",
                            headers={"Retry-After": str(math.ceil(wait))})


def generation_guards(settings: Settings) -> list:
    """What generation and exploration need in front of them: nothing unless keys for them or rate limits are
    configured, as each dependency costs the event loop on every request."""
    guards = []
    if settings.protect_generation:
        guards.append(Depends(require_read_key))
    if settings.rate_limit.strip():
        guards.append(Depends(rate_limit))
    return guards


def install(app, settings: Settings) -> None:
    app.state.keys = KeyRing(settings.api_key_list)
    app.state.rate_limit = RateLimit(settings.rate_limit, settings.redis_url)


async def _rate_limit_if_configured(request: Request) -> None:
    if request.app.state.rate_limit.enabled:
        await rate_limit(request)


WriteAccess = Annotated[None, Depends(require_write_key)]
Expensive = Annotated[None, Depends(_rate_limit_if_configured)]
