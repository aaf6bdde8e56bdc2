"""DirectRoute: the endpoint is called without FastAPI's dependency solver only where nothing needs solving;
everywhere else, and for every error, the answer is FastAPI's own. add_routes: a router's routes on the app's
own router, with the same guards and the same OpenAPI document as include_router."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import fastapi.routing
import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from app.direct_route import DirectRoute, add_routes
from tests.support import LiveServer


class Teapot(Exception):
    pass


class Body(BaseModel):
    model: str
    seeds: list[int] = Field(max_length=3)


def _app(route_class, dependencies=(), flat: bool = False) -> FastAPI:
    router = APIRouter(route_class=route_class, tags=["generation"], responses={404: {"description": "unknown"}})

    @router.post("/generate", summary="Generate", responses={200: {"content": {"image/png": {}}}})
    async def generate(body: Body, request: Request) -> Response:
        return JSONResponse({"model": body.model, "seeds": body.seeds, "path": request.url.path})

    @router.get("/seed")
    async def seed(request: Request) -> Response:
        return Response(request.query_params.get("n", ""), media_type="text/plain")

    @router.get("/dict")
    async def not_a_response(request: Request):
        return {"a": 1}

    @router.get("/teapot")
    async def refuses(request: Request) -> Response:
        raise Teapot(request.query_params.get("why", ""))

    @router.get("/query")
    async def with_query(n: int) -> Response:
        return Response(str(n * 2), media_type="text/plain")

    app = FastAPI()
    app.add_exception_handler(Teapot, lambda request, e: JSONResponse({"detail": str(e)}, status_code=418))
    if flat:
        add_routes(app, [router], list(dependencies))
    else:
        app.include_router(router, dependencies=list(dependencies))
    return app


@contextlib.contextmanager
def _client(route_class, dependencies=(), flat: bool = False) -> Iterator[httpx.Client]:
    with LiveServer(_app(route_class, dependencies, flat)) as server, server.client() as client:
        yield client


@pytest.fixture
def solves(monkeypatch) -> list[str]:
    """The requests FastAPI's dependency solver ran for."""
    calls = []
    original = fastapi.routing.solve_dependencies

    async def counting(*args, request, **kwargs):
        calls.append(request.url.path)
        return await original(*args, request=request, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)
    return calls


@pytest.mark.parametrize("flat", [False, True], ids=["include_router", "add_routes"])
def test_a_valid_json_body_and_a_bare_request_reach_the_endpoint_without_the_solver(solves, flat):
    with _client(DirectRoute, flat=flat) as client:
        r = client.post("/generate", json={"model": "m", "seeds": [1, 2]})
        assert r.status_code == 200 and r.json() == {"model": "m", "seeds": [1, 2], "path": "/generate"}
        r = client.get("/seed?n=7")
        assert r.status_code == 200 and r.text == "7"
    assert solves == []


@pytest.mark.parametrize("flat", [False, True], ids=["include_router", "add_routes"])
@pytest.mark.parametrize("content, headers, status", [
    (b'{"model": "m", "seeds": [1, 2, 3, 4]}', {"content-type": "application/json"}, 422),  # too many seeds
    (b'{"model": "m", "seeds": [1], "extra": NaN', {"content-type": "application/json"}, 422),  # not JSON
    (b"", {"content-type": "application/json"}, 422),  # no body
    (b'{"model": "m", "seeds": [1]}', {"content-type": "text/plain"}, 422),  # not declared as JSON
    (b'{"model": "m", "seeds": [1]}', {}, 422),
    (b'{"model": "m", "seeds": [1]}', {"content-type": "application/json; charset=utf-8"}, 200),
])
def test_every_other_body_gets_fastapis_own_answer(content, headers, status, flat):
    with _client(DirectRoute, flat=flat) as direct, _client(fastapi.routing.APIRoute) as standard:
        ours = direct.post("/generate", content=content, headers=headers)
        theirs = standard.post("/generate", content=content, headers=headers)
    assert ours.status_code == status and (ours.status_code, ours.json()) == (theirs.status_code, theirs.json())


async def _guard(request: Request) -> None:
    if request.headers.get("authorization") != "Bearer k":
        raise HTTPException(401, "an API key is required")


@pytest.mark.parametrize("flat", [False, True], ids=["include_router", "add_routes"])
def test_dependencies_added_by_the_including_router_still_run(solves, flat):
    with _client(DirectRoute, dependencies=[Depends(_guard)], flat=flat) as client:
        assert client.post("/generate", json={"model": "m", "seeds": [1]}).status_code == 401
        assert client.get("/seed?n=7").status_code == 401
        assert client.get("/seed?n=7", headers={"authorization": "Bearer k"}).text == "7"
    assert solves == ["/generate", "/seed", "/seed"]


def test_add_routes_serves_the_same_openapi_document_as_include_router():
    included, flat = _app(DirectRoute, [Depends(_guard)]), _app(DirectRoute, [Depends(_guard)], flat=True)
    assert flat.openapi() == included.openapi()
    assert flat.openapi()["paths"]["/generate"]["post"]["tags"] == ["generation"]


def test_add_routes_puts_the_routes_first_in_their_order():
    app = _app(DirectRoute, flat=True)
    paths = [route.path for route in app.router.routes]
    assert paths[:5] == ["/generate", "/seed", "/dict", "/teapot", "/query"] and "/openapi.json" in paths[5:]


def test_add_routes_refuses_what_is_not_an_api_route():
    router = APIRouter()
    router.add_route("/plain", lambda request: Response(b""))
    with pytest.raises(TypeError, match="include its router instead"):
        add_routes(FastAPI(), [router], [])


@pytest.mark.parametrize("flat", [False, True], ids=["include_router", "add_routes"])
def test_declared_parameters_are_solved_by_fastapi(solves, flat):
    with _client(DirectRoute, flat=flat) as client:
        assert client.get("/query?n=4").text == "8"
        assert client.get("/query?n=x").status_code == 422
    assert solves == ["/query", "/query"]


@pytest.mark.parametrize("flat", [False, True], ids=["include_router", "add_routes"])
def test_an_endpoint_that_returns_no_response_fails_loudly(capfd, flat):
    with _client(DirectRoute, flat=flat) as client:
        assert client.get("/dict").status_code == 500
    assert "not_a_response must return a Response to run on a DirectRoute" in capfd.readouterr().err


@pytest.mark.parametrize("flat", [False, True], ids=["include_router", "add_routes"])
def test_what_an_endpoint_raises_reaches_the_apps_exception_handlers(flat):
    with _client(DirectRoute, flat=flat) as client:
        r = client.get("/teapot?why=short%20and%20stout")
    assert (r.status_code, r.json()) == (418, {"detail": "short and stout"})
