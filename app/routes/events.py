"""GET /train/{id}/events: a job's progress as server-sent events, until it ends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from app.deps import QueueDep
from app.errors import Unavailable
from app.jobs import JobQueue
from app.schemas import JobId, JobOut  # ids RQ would refuse are 422 here, never a 500
from app.security import JobAccess

router = APIRouter(prefix="/train", tags=["training"])

TERMINAL = ("finished", "failed", "canceled")
POLL_S = 0.5  # how often the job's progress is read: the worker reports every GAN_PROGRESS_EVERY_S (2 s)
KEEPALIVE_S = 15  # a comment now and then keeps proxies from closing a quiet stream


def _event(name: str, data: dict) -> ServerSentEvent:
    return ServerSentEvent(json.dumps(data, separators=(",", ":")), event=name)


async def job_events(queue: JobQueue, job_id: str, state: dict) -> AsyncIterator[ServerSentEvent]:
    """`status` events whenever the job's state changes (progress, versions, status), then `end`."""
    last = None
    while True:
        body = JobOut(**state).model_dump()
        if body != last:
            yield _event("status", body)
            last = body
        if body["status"] in TERMINAL:
            yield _event("end", {"id": job_id, "status": body["status"]})
            return
        await asyncio.sleep(POLL_S)
        try:
            state = await run_in_threadpool(queue.status, job_id)
        except Unavailable as e:
            yield _event("error", {"detail": str(e)})
            return


@router.get("/{job_id}/events", summary="Server-sent events: the job's status on every change, then `end`",
            response_class=EventSourceResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "`event: status` with a JobOut body on every change; "
                                            "`event: end` when the job finished, failed or was canceled"}})
async def events(job_id: JobId, queue: QueueDep, _key: JobAccess) -> EventSourceResponse:
    # an unknown job or a dead Redis answers 404/503 before the stream opens
    first = await run_in_threadpool(queue.status, job_id)
    return EventSourceResponse(job_events(queue, job_id, first), ping=KEEPALIVE_S)
