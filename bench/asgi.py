"""What a request costs the event loop: CPU time of the API process per request, in-process, with no sockets.

    python -m bench.asgi

Requests are sent straight to the ASGI app by 32 concurrent clients on one event loop, and the process's CPU
time is divided by the requests answered (its inference process runs apart and is not counted). It measures
the service's /healthz, seed URL (a fresh seed each time) and POST /generate on the shipped model, then a
bare FastAPI app answering POST /generate with constant bytes, with 0, 1 and 3 dependencies, on a
`DirectRoute`, with FastAPI's `max_body_size`, and GET routes with 0, 3 plain and 3 optional query
parameters: the measurements behind the shape of the generation routes (docs/benchmarks.md, Engine).
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response

from app.body_limit import BodyLimitMiddleware
from tests.support import RedisServer

REPO_ROOT = Path(__file__).resolve().parent.parent
BODY = '{"model": "m", "seeds": [{n}], "labels": [3]}'


async def _request(app, method: str, path: str, query: str = "", body: str = "") -> int:
    headers = [(b"host", b"bench"), (b"content-type", b"application/json")]
    if body:
        headers.append((b"content-length", str(len(body)).encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
             "root_path": "", "headers": headers, "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000)}
    sent, status = False, []

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body.encode(), "more_body": False}
        await asyncio.sleep(3600)

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0]


async def cpu_us_per_request(app, method: str, path: str, query: str = "", body: str = "", requests: int = 3000,
                             clients: int = 32) -> float:
    """Median over 5 windows of the process's CPU microseconds per request; `{n}` is a fresh number each time."""
    counter = itertools.count(10**9 + int(time.time()) % 10**6 * 1000)

    async def client(count: int) -> None:
        for _ in range(count):
            n = str(next(counter))
            status = await _request(app, method, path.replace("{n}", n), query, body.replace("{n}", n))
            assert status == 200, status

    await asyncio.gather(*(client(10) for _ in range(clients)))  # warm-up
    windows = []
    for _ in range(5):
        start = time.process_time()
        await asyncio.gather(*(client(requests // clients) for _ in range(clients)))
        windows.append((time.process_time() - start) / (requests // clients * clients) * 1e6)
    return round(statistics.median(windows), 1)


def bare_app(dependencies: int = 0, max_body_size: int | None = None, our_body_limit: bool = False,
             direct: bool = False) -> FastAPI:
    from app.direct_route import DirectRoute
    from app.schemas import GenerateRequest

    app = FastAPI(max_body_size=max_body_size)
    if direct:
        app.router.route_class = DirectRoute

    async def dependency(request: Request) -> None:
        return None

    async def generate(**kwargs) -> Response:
        return Response(bytes(700), media_type="image/png")

    parameters = [inspect.Parameter("body", inspect.Parameter.KEYWORD_ONLY, annotation=GenerateRequest)]
    parameters += [inspect.Parameter(f"d{i}", inspect.Parameter.KEYWORD_ONLY,
                                     annotation=Annotated[None, Depends(dependency)]) for i in range(dependencies)]
    generate.__signature__ = inspect.Signature(parameters)
    app.post("/generate")(generate)
    if our_body_limit:
        app.add_middleware(BodyLimitMiddleware)
    return app


def query_app(optional: bool | None) -> FastAPI:
    """A GET route with no query parameters (None), or three, plain or optional."""
    app = FastAPI()

    async def plain(label: str = "", version: str = "latest", mode: str = "") -> Response:
        return Response(bytes(700), media_type="image/png")

    async def optional_ones(label: str | None = None, version: str | None = None, mode: str | None = None) -> Response:
        return Response(bytes(700), media_type="image/png")

    async def none() -> Response:
        return Response(bytes(700), media_type="image/png")

    app.get("/image")({None: none, False: plain, True: optional_ones}[optional])
    return app


async def service_figures() -> dict[str, float]:
    workdir = Path(tempfile.mkdtemp())
    registry = workdir / "registry"
    shutil.copytree(REPO_ROOT / "models" / "shipped" / "fashion-cdcgan", registry / "m")
    # a real Redis: /healthz pings it, and an unreachable one costs each /healthz a failed connection
    redis = RedisServer(workdir)
    redis.start()
    os.environ.update({"GAN_REGISTRY_DIR": str(registry), "GAN_SHIPPED_REGISTRY_DIR": str(registry / ".none"),
                       "GAN_REDIS_URL": redis.url})
    from app.main import create_app

    app = create_app()
    try:
        async with app.router.lifespan_context(app):
            return {"service GET /healthz": await cpu_us_per_request(app, "GET", "/healthz"),
                    "service seed URL": await cpu_us_per_request(app, "GET", "/models/m/seeds/{n}.png", "label=3"),
                    "service POST /generate": await cpu_us_per_request(app, "POST", "/generate", body=BODY)}
    finally:
        redis.stop()


async def main() -> None:
    results = await service_figures()
    for dependencies in (0, 1, 3):
        results[f"bare POST, {dependencies} dependencies"] = await cpu_us_per_request(
            bare_app(dependencies), "POST", "/generate", body=BODY)
    results["bare POST, app/direct_route.py"] = await cpu_us_per_request(bare_app(direct=True), "POST", "/generate",
                                                                          body=BODY)
    results["bare POST, FastAPI's max_body_size"] = await cpu_us_per_request(
        bare_app(max_body_size=1_000_000), "POST", "/generate", body=BODY)
    results["bare POST, app/body_limit.py"] = await cpu_us_per_request(
        bare_app(our_body_limit=True), "POST", "/generate", body=BODY)
    for name, optional in (("no", None), ("3 plain", False), ("3 optional", True)):
        results[f"bare GET, {name} query parameters"] = await cpu_us_per_request(
            query_app(optional), "GET", "/image", "label=3&version=1")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
