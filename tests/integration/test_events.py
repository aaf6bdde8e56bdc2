"""GET /train/{id}/events with a real worker: status events on every change, then `end`."""

import json

import pytest


pytestmark = pytest.mark.integration


def read_events(client, path: str) -> list[tuple[str, dict]]:
    events, name = [], None
    with client.stream("GET", path, timeout=120) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[len("event: "):]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[len("data: "):])))
    return events


def test_events_stream_progress_until_the_job_ends(stack):
    client, _ = stack
    job = client.post("/train", json={"model": "sse-gan", "dataset": {"kind": "synthetic"}, "image_size": 32,
                                      "batch_size": 8, "base_width": 8, "steps": 60, "checkpoint_every": 30}).json()
    events = read_events(client, f"/train/{job['id']}/events")
    names = [n for n, _ in events]
    assert names[-1] == "end" and events[-1][1] == {"id": job["id"], "status": "finished"}
    statuses = [body for n, body in events if n == "status"]
    assert statuses[-1]["status"] == "finished" and statuses[-1]["versions"] == ["000001", "000002"]
    steps = [s["progress"]["step"] for s in statuses if s["progress"]]
    assert steps == sorted(steps) and steps[-1] == 60
    assert len(statuses) == len({json.dumps(s, sort_keys=True) for s in statuses})  # only changes are sent


def test_events_of_an_unknown_job_answer_404_before_any_stream(stack):
    client, _ = stack
    r = client.get("/train/nope/events")
    assert r.status_code == 404 and "unknown training job" in r.json()["detail"]
