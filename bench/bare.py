"""The HTTP ceiling: a bare FastAPI app that validates POST /generate's body and answers constant bytes.

    python -m uvicorn bench.bare:app --port 8001

`bench/serve.py` runs it on the same uvicorn as the service, with no middleware, no dependencies and no
model, so that the service's figures can be read against what FastAPI itself allows on this machine.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response

from app.schemas import GenerateRequest

PNG_SIZED = bytes(700)  # about a 28x28 image's PNG

app = FastAPI()


@app.post("/generate")
async def generate(body: GenerateRequest) -> Response:
    return Response(PNG_SIZED, media_type="image/png")


@app.get("/healthz")
async def healthz() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")
