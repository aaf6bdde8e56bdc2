"""GET /train/{id}/events: a job's progress as server-sent events, until it ends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from app.deps import QueueDep, SettingsDep
from app.errors import Unavailable
from app.jobs import JobQueue
from app.schemas import JobId, JobOut  # ids RQ would refuse are 422 here, never a 500

router = APIRouter(prefix="/train", tags=["training"])

TERMINAL = ("finished", "failed", "canceled")
KEEPALIVE_S = 15.0  # a comment line now and then keeps proxies from closing a quiet stream


def _event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def job_events(request: Request, queue: JobQueue, job_id: str, first: dict, poll_s: float
                     ) -> AsyncIterator[str]:
    """`status` events whenever the job's state changes (progress, versions, status), then `end`."""
    last, quiet = None, 0.0
    state = first
    while True:
        body = JobOut(**state).model_dump()
        if body != last:
            yield _event("status", body)
            last, quiet = body, 0.0
        if body["status"] in TERMINAL:
            yield _event("end", {"id": job_id, "status": body["status"]})
            return
        await asyncio.sleep(poll_s)
        quiet += poll_s
        if quiet >= KEEPALIVE_S:
            yield ": keep-alive\n\n"
            quiet = 0.0
        if await request.is_disconnected():
            return
        try:
            state = await run_in_threadpool(queue.status, job_id)
        except Unavailable as e:
            yield _event("error", {"detail": str(e)})
            return


@router.get("/{job_id}/events", summary="Server-sent events: the job's status on every change, then `end`",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "`event: status` with a JobOut body on every change; "
                                            "`event: end` when the job finished, failed or was canceled"}})
async def events(job_id: JobId, request: Request, queue: QueueDep, settings: SettingsDep) -> StreamingResponse:
    # an unknown job or a dead Redis answers 404/503 before the stream opens
    first = await run_in_threadpool(queue.status, job_id)
    return StreamingResponse(job_events(request, queue, job_id, first, settings.events_poll_s),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
