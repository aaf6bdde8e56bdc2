"""An APIRoute that calls its endpoint directly when the endpoint needs nothing FastAPI would solve.

FastAPI answers every request through its dependency solver, even for an endpoint that takes only the
request and a JSON body: a bare app's POST costs the event loop twice as much through it (`python -m
bench.asgi`, docs/benchmarks.md, Engine). A `DirectRoute` whose endpoint (with whatever the including
router adds) has no dependencies and no parameters but `request` and one pydantic body skips the solver:
it validates the body with the body's own model and calls the endpoint. Anything else (a body that does
not validate, a content type other than JSON, a route with dependencies such as the API-key and rate-limit
guards) goes through FastAPI's own handler, so errors, security and the OpenAPI document are FastAPI's.

`add_routes` puts a router's routes on the app's own router. FastAPI keeps an included router as a branch
that each request is matched against twice, once to choose the branch and once inside it; on the routes
that answer most requests that costs more than the endpoint's own work (`python -m bench.asgi`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
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


class DirectRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        standard = super().get_route_handler()
        context = _effective_route_context_var.get()
        route = context if context is not None and context.original_route is self else self
        dependant = route.dependant
        endpoint, request_name = dependant.call, dependant.request_param_name
        if _solver_needed(dependant) or not inspect.iscoroutinefunction(endpoint):
            return standard
        body = (dependant.body_params[0].name, dependant.body_params[0].field_info.annotation) \
            if dependant.body_params else None

        async def handler(request: Request) -> Response:
            arguments: dict[str, Any] = {request_name: request} if request_name else {}
            if body is not None:
                name, model = body
                if request.headers.get("content-type") != JSON:
                    return await standard(request)
                try:
                    arguments[name] = model.model_validate_json(await request.body())
                except ValidationError:
                    return await standard(request)  # the body is cached: FastAPI reads it again for its 422
            response = await endpoint(**arguments)
            if not isinstance(response, Response):
                raise TypeError(f"{endpoint.__name__} must return a Response to run on a DirectRoute")
            return response

        return handler


def add_routes(app: FastAPI, router: APIRouter, dependencies: list[Depends]) -> None:
    """`app.include_router(router, dependencies=dependencies)`, with the routes on the app's own router, so a
    request is matched once; the OpenAPI document is the same."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"{route!r} is not an APIRoute; include its router instead")
        app.router.add_api_route(route.path, route.endpoint, dependencies=[*dependencies, *route.dependencies],
                                 route_class_override=type(route), **{f: getattr(route, f) for f in ROUTE_FIELDS})
