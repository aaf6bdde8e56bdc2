"""Hot swap under load: concurrent /generate clients while valid and broken versions land in the registry.

Starts the real API (uvicorn, its own process) on a fresh registry holding one tiny trained model, runs N
client threads sending /generate back to back, and publishes a new version every PERIOD seconds, cycling
through valid ones and broken ones: a truncated weights file, invalid JSON metadata, weights whose sha256
does not match, a directory that appears half-written and stays so, and one whose files appear late
(written in place, not renamed in, completed a moment later). Prints a JSON report:
requests sent and failed, versions served that were not valid, per-client versions going backwards, the
delay from each valid version landing to its first answer, broken versions served, each broken version's
log lines and its `valid` flag in GET /models/{name}, and the API process's resident memory.

    .venv/bin/python bench/hotswap.py --duration 40 --clients 8 --period 0.5

tests/app/test_hotswap.py runs the same for a few seconds.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from models import checkpoint  # noqa: E402
from models.names import format_version  # noqa: E402
from models.registry import Registry  # noqa: E402
from tests.support import ApiProcess, free_port, train_tiny  # noqa: E402

MODEL = "swap"
KINDS = ["valid", "truncated", "valid", "bad-json", "valid", "sha-mismatch", "valid", "half-written", "valid",
         "late-files"]
BROKEN = {"truncated", "bad-json", "sha-mismatch", "half-written"}


@dataclass
class Landing:
    version: str
    kind: str
    valid_at: float | None  # monotonic time from which it is complete and valid; None: never


@dataclass
class ClientLog:
    answers: list[tuple[float, str]] = field(default_factory=list)  # (time, X-Model-Version)
    failures: list[str] = field(default_factory=list)


class Publisher:
    """Publishes versions of MODEL built from a template version directory, broken in various ways."""

    def __init__(self, root: Path, template: Path):
        self.registry, self.template, self.root = Registry(root), template, root
        self.landed: list[Landing] = []

    def _copy(self, into: Path) -> None:
        for p in self.template.iterdir():
            shutil.copyfile(p, into / p.name)

    def _rehash(self, directory: Path) -> None:
        metadata = json.loads((directory / checkpoint.METADATA).read_text())
        metadata["files"][checkpoint.WEIGHTS] = checkpoint.sha256_file(directory / checkpoint.WEIGHTS)
        (directory / checkpoint.METADATA).write_text(json.dumps(metadata))

    def publish(self, kind: str) -> Landing:
        if kind in ("half-written", "late-files"):
            return self._in_place(kind)

        built_at = []

        def build(d: Path) -> None:
            self._copy(d)
            weights = d / checkpoint.WEIGHTS
            if kind == "truncated":
                weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
                self._rehash(d)  # the hash matches: the truncation itself must be caught
            elif kind == "bad-json":
                (d / checkpoint.METADATA).write_text('{"format": "gan-service.checkpoint/1", "files": ')
            elif kind == "sha-mismatch":
                data = bytearray(weights.read_bytes())
                data[-1] ^= 0xFF
                weights.write_bytes(bytes(data))
            built_at.append(time.monotonic())

        version = self.registry.publish(MODEL, build)
        # visible from the rename, which follows the build: count from the end of the build, not from the
        # return of publish(), which waits for fsync and may come after the first answer from it
        landing = Landing(version, kind, None if kind in BROKEN else built_at[0])
        self.landed.append(landing)
        return landing

    def _in_place(self, kind: str) -> Landing:
        """A directory created under its final name and filled file by file, as a careless copy would."""
        number = int(self.registry.latest(MODEL) or 0) + 1
        directory = self.root / MODEL / format_version(number)
        directory.mkdir()
        shutil.copyfile(self.template / checkpoint.WEIGHTS, directory / checkpoint.WEIGHTS)
        landing = Landing(directory.name, kind, None)
        self.landed.append(landing)
        if kind == "late-files":
            def finish() -> None:
                time.sleep(0.25)
                for p in self.template.iterdir():
                    if p.name not in (checkpoint.WEIGHTS, checkpoint.METADATA):
                        shutil.copyfile(p, directory / p.name)
                # complete and valid from the moment its metadata is whole: no answer may come from it before
                landing.valid_at = time.monotonic()
                shutil.copyfile(self.template / checkpoint.METADATA, directory / checkpoint.METADATA)
            threading.Thread(target=finish, daemon=True).start()
        return landing


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def start_api(root: Path, log_path: Path, watch_interval_s: float) -> tuple[subprocess.Popen, str]:
    api = ApiProcess({"GAN_REGISTRY_DIR": str(root), "GAN_SHIPPED_REGISTRY_DIR": str(root / ".none"),
                      "GAN_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
                      "GAN_WATCH_INTERVAL_S": str(watch_interval_s), "GAN_TORCH_THREADS": "1",
                      "GAN_CACHE_SIZE": "3"}, log_path).start().wait_ready()
    return api.process, api.url


def client_loop(url: str, index: int, stop: threading.Event, log: ClientLog) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        while not stop.is_set():
            try:
                r = client.post("/generate", json={"model": MODEL, "seeds": [index]})
                if r.status_code == 200:
                    log.answers.append((time.monotonic(), r.headers["x-model-version"]))
                else:
                    log.failures.append(f"{r.status_code} {r.text[:200]}")
            except httpx.HTTPError as e:
                log.failures.append(repr(e))


def run(duration_s: float = 40.0, clients: int = 8, period_s: float = 0.5, watch_interval_s: float = 0.2,
        workdir: Path | None = None) -> dict:
    workdir = Path(workdir or tempfile.mkdtemp(prefix="hotswap-"))
    root = workdir / "registry"
    train_tiny(root, MODEL, "dcgan", steps=2)
    template = workdir / "template"
    shutil.copytree(root / MODEL / "000001", template)
    publisher = Publisher(root, template)
    publisher.landed.append(Landing("000001", "valid", time.monotonic()))
    api, url = start_api(root, workdir / "api.log", watch_interval_s)
    try:
        httpx.post(url + "/generate", json={"model": MODEL, "seeds": [0]}, timeout=30).raise_for_status()
        rss_start = rss_kib(api.pid)
        stop = threading.Event()
        logs = [ClientLog() for _ in range(clients)]
        threads = [threading.Thread(target=client_loop, args=(url, i, stop, logs[i])) for i in range(clients)]
        for t in threads:
            t.start()
        started = time.monotonic()
        rss_at_100 = None
        i = 0
        while time.monotonic() - started < duration_s:
            publisher.publish(KINDS[i % len(KINDS)])
            i += 1
            if i == 100:
                time.sleep(1)
                rss_at_100 = rss_kib(api.pid)
            time.sleep(period_s)
        time.sleep(2.5)  # let the last versions be served before the clients stop
        stop.set()
        for t in threads:
            t.join()
        rss_end = rss_kib(api.pid)
        details = httpx.get(url + f"/models/{MODEL}", timeout=30).json()["version_details"]
    finally:
        api.terminate()
        api.wait(10)
    return report(publisher.landed, logs, details, (workdir / "api.log").read_text(), i, time.monotonic() - started,
                  {"start": rss_start, "after_100_publications": rss_at_100, "end": rss_end})


def report(landed: list[Landing], logs: list[ClientLog], details: dict, api_log: str, published: int,
           elapsed_s: float, rss: dict) -> dict:
    by_version = {l.version: l for l in landed}
    first_served: dict[str, float] = {}
    served_invalid, backwards = [], 0
    for log in logs:
        previous = None
        for t, version in log.answers:
            landing = by_version.get(version)
            if landing is None or landing.valid_at is None or t < landing.valid_at:
                served_invalid.append((version, landing.kind if landing else "unknown",
                                       None if landing is None or landing.valid_at is None
                                       else round(t - landing.valid_at, 3)))
            first_served[version] = min(first_served.get(version, t), t)
            if previous is not None and version < previous:
                backwards += 1
            previous = version
    valid = [l for l in landed[1:] if l.valid_at is not None]
    lags = [first_served[l.version] - l.valid_at for l in valid if l.version in first_served]
    broken = [l for l in landed if l.kind in BROKEN]
    log_lines = {l.version: len(re.findall(rf"version {l.version} of {MODEL} is invalid", api_log)) for l in broken}
    return {
        "duration_s": round(elapsed_s, 1),
        "clients": len(logs),
        "publications": published,
        "publications_per_s": round(published / elapsed_s, 2),
        "requests_sent": sum(len(l.answers) + len(l.failures) for l in logs),
        "requests_failed": sum(len(l.failures) for l in logs),
        "failures_sample": [f for l in logs for f in l.failures][:5],
        "answers_from_versions_not_valid_when_served": len(served_invalid),
        "answers_not_valid_sample": served_invalid[:10],  # (version, kind, seconds after it became valid)
        "per_client_versions_going_backwards": backwards,
        "valid_versions_landed": len(valid),
        # a version followed by a newer valid one before the watcher's next pass is never `latest`: fine
        "valid_versions_never_served": [l.version for l in valid if l.version not in first_served],
        "valid_versions_never_served_nor_superseded_within_2s": [
            l.version for l in valid if l.version not in first_served
            and not any(o.version > l.version and o.valid_at <= l.valid_at + 2 for o in valid)],
        "landing_to_first_answer_s": {"median": round(statistics.median(lags), 3) if lags else None,
                                      "max": round(max(lags), 3) if lags else None},
        "late_files_versions_served_once_complete": sum(1 for l in landed if l.kind == "late-files"
                                                        and l.version in first_served),
        "broken_versions": len(broken),
        "broken_versions_served": sorted({l.version for l in broken if l.version in first_served}),
        "broken_versions_logged_exactly_once": sum(1 for n in log_lines.values() if n == 1),
        "broken_versions_log_counts_other_than_one": {v: n for v, n in log_lines.items() if n != 1},
        "broken_versions_shown_invalid": sum(1 for l in broken if details.get(l.version, {}).get("valid") is False),
        "broken_versions_without_error_text": [l.version for l in broken if not details.get(l.version, {}).get("error")],
        "rss_kib": rss,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=40.0, help="seconds of load (>= 30 for the report)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--period", type=float, default=0.5, help="seconds between publications")
    parser.add_argument("--watch-interval", type=float, default=0.2, help="GAN_WATCH_INTERVAL_S of the API")
    args = parser.parse_args()
    print(json.dumps(run(args.duration, args.clients, args.period, args.watch_interval), indent=2))


if __name__ == "__main__":
    main()
