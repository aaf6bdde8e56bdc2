"""An APIRoute that calls its endpoint directly when the endpoint needs nothing FastAPI would solve.

FastAPI answers every request through its dependency solver, even for an endpoint that takes only the
request and a JSON body: a bare app's POST costs the event loop twice as much through it (`python -m
bench.asgi`, docs/benchmarks.md, Engine). A `DirectRoute` whose endpoint (with whatever the including
router adds) has no dependencies and no parameters but `request` and one pydantic body skips the solver:
it validates the body with the body's own model and calls the endpoint. Anything else (a body that does
not validate, a content type other than JSON, a route with dependencies such as the API-key and rate-limit
guards) goes through FastAPI's own handler, so errors, security and the OpenAPI document are FastAPI's.

`add_routes` puts routers' routes on the app's own router, first. FastAPI keeps an included router as a
branch that each request is matched against twice, once to choose the branch and once inside it, and it
tries its documentation pages before any route added later; on the routes that answer most requests that
costs more than the endpoint's own work (`python -m bench.asgi`).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.params import Depends
from fastapi.routing import APIRoute, APIRouter
# the route as an including router configured it (its dependencies added); FastAPI's own APIRoute reads it
# the same way, and the version is pinned in pyproject.toml
from fastapi.routing import _effective_route_context_var
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

JSON = "application/json"
# what a route keeps of its decorator's arguments, as `include_router` would carry them over
ROUTE_FIELDS = ("response_model", "status_code", "tags", "summary", "description", "response_description",
                "responses", "deprecated", "methods", "operation_id", "include_in_schema", "response_class",
                "name", "callbacks", "openapi_extra")


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _solver_needed(dependant: Dependant) -> bool:
    """Whether the endpoint asks for anything besides the request and one pydantic body."""
    if (dependant.dependencies or dependant.path_params or dependant.query_params or dependant.header_params
            or dependant.cookie_params or dependant.response_param_name or dependant.background_tasks_param_name
            or dependant.security_scopes_param_name or len(dependant.body_params) > 1):
        return True
    return any(not _is_model(field.field_info.annotation) for field in dependant.body_params)


def _direct_answer(dependant: Dependant) -> Callable[[Request], Awaitable[Response | None]] | None:
    """How to call the endpoint without the solver: the answer awaited gives its Response, or None where
    FastAPI must answer (not JSON, or a body that does not validate); None where the solver is needed."""
    endpoint, request_name = dependant.call, dependant.request_param_name
    if _solver_needed(dependant) or not inspect.iscoroutinefunction(endpoint):
        return None
    body = (dependant.body_params[0].name, dependant.body_params[0].field_info.annotation) \
        if dependant.body_params else None

    async def answer(request: Request) -> Response | None:
        arguments: dict[str, Any] = {request_name: request} if request_name else {}
        if body is not None:
            name, model = body
            if request.headers.get("content-type") != JSON:
                return None
            try:
                arguments[name] = model.model_validate_json(await request.body())
            except ValidationError:
                return None
        response = await endpoint(**arguments)
        if not isinstance(response, Response):
            raise TypeError(f"{endpoint.__name__} must return a Response to run on a DirectRoute")
        return response

    return answer


def _replaying(body: bytes, receive: Receive) -> Receive:
    """`receive` with the body already read given once more, for FastAPI to read it again."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


class DirectRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        answer = _direct_answer(self.dependant)
        if answer is None or self.max_body_size is not None:  # FastAPI's app enforces the route's body limit
            return
        fastapi_app = self.app  # FastAPI's own handler alone (get_route_handler)

        # on its own router the route is a plain ASGI app: FastAPI's wrapper around a handler adds two exit
        # stacks and a second exception handling per request; the app's exception middleware handles what
        # the endpoint raises with the same handlers
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            request = Request(scope, receive, send)
            response = await answer(request)
            if response is None:
                await fastapi_app(scope, _replaying(await request.body(), receive), send)
            else:
                await response(scope, receive, send)

        self.app = app

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler; for an included router's copy of the route (its dependencies added), the direct
        answer in front of it. The route on its own router answers directly in its ASGI app (__init__)."""
        standard = super().get_route_handler()
        context = _effective_route_context_var.get()
        if context is None or context.original_route is not self:
            return standard
        answer = _direct_answer(context.dependant)
        if answer is None:
            return standard

        async def handler(request: Request) -> Response:
            response = await answer(request)
            return await standard(request) if response is None else response  # the body is cached

        return handler


def add_routes(app: FastAPI, routers: list[APIRouter], dependencies: list[Depends]) -> None:
    """`app.include_router(router, dependencies=dependencies)` for each router, with their routes on the app's
    own router, so a request is matched once, and in their order ahead of the routes already there
    (FastAPI's documentation pages, which every request would otherwise be matched against first); the
    OpenAPI document is the same."""
    routes = [route for router in routers for route in router.routes]
    for route in routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"{route!r} is not an APIRoute; include its router instead")
    present = len(app.router.routes)
    for route in routes:
        app.router.add_api_route(route.path, route.endpoint, dependencies=[*dependencies, *route.dependencies],
                                 route_class_override=type(route), **{f: getattr(route, f) for f in ROUTE_FIELDS})
    app.router.routes[:] = app.router.routes[present:] + app.router.routes[:present]
