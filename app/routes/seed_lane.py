"""The seed URL's fast lane: the same answers as the FastAPI route, without its per-request machinery.

A seed URL is what a page embeds by the hundred, so it is the request that comes most often, and on a small
model its cost is mostly the framework's: resolving the route's seven dependencies and validating its
parameters took more of the event loop than the forward pass did (py-spy, docs/benchmarks.md). This ASGI app
sits in front of the route on the same path. A plain request (a decimal seed, at most the `label`,
`truncation` and `version` parameters with values the route would accept, no key or rate limit configured)
is answered here by the route's own `seed_answer`; anything else (`version=best`, a value the route would
refuse, an unknown parameter, keys or rate limits switched on) is handed to the route itself, so its
validation, errors and security stay the only ones.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from fastapi.routing import APIRoute
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from app.routes.generate import SEED_PATH, seed_answer

LANE_PARAMETERS = frozenset({"label", "truncation", "version"})
MAX_SEED = 2**63
DECIMAL = re.compile(r"[0-9]{1,3}(\.[0-9]{1,17})?")  # what a truncation in (0, 2] plainly looks like


class SeedLane:
    def __init__(self, route: APIRoute):
        self.route = route  # the FastAPI route: the answer to everything this lane does not take

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self.route  # metrics and logs name the route template either way
        arguments = self._plain(scope)
        if arguments is None:
            await self.route.handle(scope, receive, send)
            return
        state = scope["app"].state
        response = await seed_answer(state.pool, state.batcher, state.seed_cache, **arguments)
        await response(scope, receive, send)

    @staticmethod
    def _plain(scope: Scope) -> dict | None:
        """The route's arguments when the request is one the route would take as it is, else None."""
        state = scope["app"].state
        if scope["method"] != "GET" or state.settings.protect_generation or state.rate_limits.enabled:
            return None
        params = scope["path_params"]
        seed_text: str = params["seed"]
        if not (seed_text.isascii() and seed_text.isdigit()) or len(seed_text) > 19:
            return None
        seed = int(seed_text)
        if seed >= MAX_SEED:
            return None
        query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        given = dict(query)
        if len(given) != len(query) or not given.keys() <= LANE_PARAMETERS:
            return None
        label = given.get("label")
        version = given.get("version", "latest")
        if (label is not None and len(label) > 200) or len(version) > 32 or version == "best":
            return None
        truncation = 1.0
        if "truncation" in given:
            if not DECIMAL.fullmatch(given["truncation"]):
                return None
            truncation = float(given["truncation"])
            if not 0 < truncation <= 2:
                return None
        if_none_match = None
        for header, value in scope["headers"]:
            if header == b"if-none-match":
                if if_none_match is not None:
                    return None  # repeated: the route decides what that means
                if_none_match = value.decode("latin-1")
        return {"name": params["name"], "seed": seed, "label": label, "truncation": truncation,
                "version": version, "if_none_match": if_none_match}


def install(app, router) -> None:
    """Put the lane in front of the seed route (first in the app's routes, hidden from OpenAPI)."""
    route = next(r for r in router.routes if isinstance(r, APIRoute) and r.path == SEED_PATH)
    app.router.routes.insert(0, Route(SEED_PATH, SeedLane(route), include_in_schema=False))
