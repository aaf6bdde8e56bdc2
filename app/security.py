"""Who may call what: API keys (bearer tokens) and per-client rate limits.

- WriteAccess, in a route's signature: anything that changes state (jobs, the registry). Requires a key
  whenever keys are configured.
- JobAccess, in a route's signature: reading jobs (their list, status, samples, metrics, events); jobs name
  models and datasets, so they are keyed whenever keys are configured.
- A job belongs to the key that submitted it: only that key or an admin key (GAN_ADMIN_KEYS) may cancel it.
  A job records the key's id (`Caller.key_id`: a short hash of it), never the key.
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
from dataclasses import dataclass
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


KEY_ID_CHARS = 12  # of the key's sha256 in hex: tells keys apart in a job's record, reveals nothing of them


def _digest(key: str) -> bytes:
    # equal-length digests, so compare_digest's time does not depend on the length of the keys either
    return hashlib.sha256(key.encode()).digest()


def _key_id(digest: bytes) -> str:
    return digest.hex()[:KEY_ID_CHARS]


def key_id(key: str) -> str:
    """What a job or an alias records of the key behind it: a short hash, never the key."""
    return _key_id(_digest(key))


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the id of their key, or None when no keys are configured (anyone may do anything)."""

    key_id: str | None
    admin: bool = False

    def may_cancel(self, owner: str | None) -> bool:
        # a job submitted before keys were configured has no owner: only an admin may cancel it then
        return self.key_id is None or self.admin or self.key_id == owner


OPEN = Caller(key_id=None)


class KeyRing:
    def __init__(self, keys: list[str], admin_keys: list[str] = ()):
        # admin keys are keys too: whatever a key may do, an admin key may
        self._digests = [(_digest(k), False) for k in keys] + [(_digest(k), True) for k in admin_keys]

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def identify(self, presented: str) -> Caller | None:
        """The caller holding `presented`, or None for a key that is not configured."""
        candidate = _digest(presented)
        found = admin = False
        for digest, is_admin in self._digests:  # no early exit: the time taken says nothing about which matched
            match = hmac.compare_digest(candidate, digest)
            found |= match
            admin |= match and is_admin
        return Caller(_key_id(candidate), admin) if found else None

    def accepts(self, presented: str) -> bool:
        return self.identify(presented) is not None


def _check_key(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Caller:
    ring: KeyRing = request.app.state.keys
    if not ring.enabled:
        return OPEN
    if credentials is None or not credentials.credentials.strip():
        raise HTTPException(401, "an API key is required: send 'Authorization: Bearer <key>'",
                            headers={"WWW-Authenticate": "Bearer"})
    caller = ring.identify(credentials.credentials.strip())
    if caller is None:
        raise HTTPException(403, "the API key is not valid", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return caller


def check_may_cancel(caller: Caller, job_id: str, owner: str | None) -> None:
    if not caller.may_cancel(owner):
        raise HTTPException(403, f"job {job_id} was submitted with another API key: only that key or an admin "
                                 "key (GAN_ADMIN_KEYS) may cancel it")


# The dependencies are `async def`: FastAPI would run a plain `def` dependency in its thread pool, a thread hop
# per dependency per request.
async def require_key(request: Request, credentials: Credentials) -> Caller:
    return _check_key(request, credentials)


async def require_read_key(request: Request, credentials: Credentials) -> None:
    settings: Settings = request.app.state.settings
    if settings.protect_generation:
        _check_key(request, credentials)


class RateLimit:
    """Per-client limits in the `limits` notation (e.g. "60/minute" or "10/second;100/minute"), counted in
    Redis so that every API replica shares them; while Redis is unreachable, each replica counts alone, in
    memory, says so in /readyz until a count reaches Redis again, and tries Redis every RETRY_SHARED_S."""

    RETRY_SHARED_S = 5.0

    def __init__(self, spec: str, redis_url: str):
        self.items = parse_many(spec) if spec.strip() else []
        storage = RedisStorage(f"async+{redis_url}", implementation="redispy", wrap_exceptions=True,
                               key_prefix="gan-rate", socket_connect_timeout=0.5, socket_timeout=0.5)
        self._shared = MovingWindowRateLimiter(storage)
        self._alone = MovingWindowRateLimiter(MemoryStorage())
        self._retry_shared_at: float | None = None  # monotonic time; None while the last count reached Redis

    @property
    def enabled(self) -> bool:
        return bool(self.items)

    @property
    def shared(self) -> bool:
        """Whether the last count reached Redis (what /readyz reports, not a guess from the clock)."""
        return self._retry_shared_at is None

    async def wait_s(self, client: str) -> float:
        """0 when the request may go ahead, else the seconds until it may."""
        if self.shared or time.monotonic() >= self._retry_shared_at:
            try:
                wait = await self._take(self._shared, client)
            except StorageError as e:
                if self.shared:  # once per outage, not once per retry
                    log.warning("rate limits are counted per replica until Redis answers again: %s", e.storage_error)
                self._retry_shared_at = time.monotonic() + self.RETRY_SHARED_S
            else:
                self._retry_shared_at = None
                return wait
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
    app.state.keys = KeyRing(settings.api_key_list, settings.admin_key_list)
    app.state.rate_limit = RateLimit(settings.rate_limit, settings.redis_url)


async def _rate_limit_if_configured(request: Request) -> None:
    if request.app.state.rate_limit.enabled:
        await rate_limit(request)


WriteAccess = Annotated[Caller, Depends(require_key)]
JobAccess = Annotated[Caller, Depends(require_key)]
Expensive = Annotated[None, Depends(_rate_limit_if_configured)]
