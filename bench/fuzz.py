"""Schema-driven fuzzing of the whole HTTP API: schemathesis generates requests from the service's own
OpenAPI schema, both fitting it (positive) and breaking it (negative), and sends them over real HTTP.

What must hold for every answer: no 5xx except the documented 503s (Redis down), and every 4xx is JSON
with a non-empty `detail` naming the problem. Prints a JSON report of the cases tried per operation.

    .venv/bin/python bench/fuzz.py --examples 300

It starts the real API (uvicorn, its own process) on a fresh registry with one tiny conditional and one
unconditional model, without Redis unless --redis-url is given (then /train enqueues on a throwaway queue).
tests/app/test_fuzz.py runs the same with a few examples per operation.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.errors import Unsatisfiable

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import schemathesis  # noqa: E402
from schemathesis.generation.modes import GenerationMode  # noqa: E402

from tests.support import ApiProcess, free_port, train_tiny  # noqa: E402


def problems(status: int, content_type: str, body: bytes, redis_up: bool) -> list[str]:
    """What is wrong with one answer, if anything."""
    found = []
    if status >= 500 and not (status == 503 and not redis_up):
        found.append(f"{status} answer")
    if 400 <= status < 500 or status >= 500:
        try:
            detail = json.loads(body).get("detail")
        except (ValueError, AttributeError):
            detail = None
        if not detail:
            found.append(f"{status} without a JSON detail ({content_type}): {body[:120]!r}")
    return found


MODELS = ("bars", "bars-cond")  # what run() trains; random names alone would nearly always be 404


def retarget(case, model: str | None):
    """Point some cases at a model that exists, so generation code runs and not only the 404 path."""
    if model is not None:
        if isinstance(case.body, dict) and isinstance(case.body.get("model"), str):
            case.body["model"] = model
        if case.path_parameters and isinstance(case.path_parameters.get("name"), str):
            case.path_parameters["name"] = model
    return case


def fuzz(url: str, examples: int, redis_up: bool, seed: int = 0) -> dict:
    schema = schemathesis.openapi.from_url(url + "/openapi.json")
    report: dict = {"operations": {}, "cases": 0, "failures": [], "no_negative_cases_possible": []}
    for result in schema.get_all_operations():
        operation = result.ok()
        name = f"{operation.method.upper()} {operation.path}"
        statuses: Counter = Counter()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            @given(case=st.builds(retarget, operation.as_strategy(generation_mode=mode),
                                  st.sampled_from([None, *MODELS])))
            def send(case) -> None:
                response = case.call(base_url=url, timeout=60)
                statuses[response.status_code] += 1
                for problem in problems(response.status_code, response.headers.get("content-type", ""),
                                        response.content, redis_up):
                    if len(report["failures"]) < 50:
                        report["failures"].append({"operation": name, "mode": mode.value, "problem": problem,
                                                   "request": {"path": case.formatted_path, "query": case.query,
                                                               "body": repr(case.body)[:300]}})
            try:
                send()
            except Unsatisfiable:  # nothing in the operation can be broken (no parameters, or free strings)
                report["no_negative_cases_possible"].append(name)
            except Exception as e:  # an unsatisfiable negative strategy, say: report it, go on
                report["failures"].append({"operation": name, "mode": mode.value, "problem": f"generation: {e!r}"[:300]})
        report["operations"][name] = dict(sorted(statuses.items()))
        report["cases"] += sum(statuses.values())
    return report


def start_api(root: Path, log_path: Path, redis_url: str, queue: str) -> tuple[subprocess.Popen, str]:
    api = ApiProcess({"GAN_REGISTRY_DIR": str(root), "GAN_SHIPPED_REGISTRY_DIR": str(root / ".none"),
                      "GAN_REDIS_URL": redis_url, "GAN_QUEUES": queue, "GAN_TORCH_THREADS": "1"},
                     log_path).start().wait_ready()
    return api.process, api.url


def run(examples: int, redis_url: str | None = None, workdir: Path | None = None) -> dict:
    workdir = Path(workdir or tempfile.mkdtemp(prefix="fuzz-"))
    root = workdir / "registry"
    train_tiny(root, "bars-cond", "cdcgan", steps=2)
    train_tiny(root, "bars", "dcgan", steps=2)
    url_for_redis = redis_url or f"redis://127.0.0.1:{free_port()}/0"
    api, url = start_api(root, workdir / "api.log", url_for_redis, f"fuzz-{os.getpid()}")
    try:
        report = fuzz(url, examples, redis_up=redis_url is not None)
    finally:
        api.terminate()
        api.wait(10)
    report["server_errors_logged"] = (workdir / "api.log").read_text().count("Traceback")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=300, help="examples per operation and mode")
    parser.add_argument("--redis-url", default=None, help="a Redis for /train (default: none, so 503)")
    args = parser.parse_args()
    print(json.dumps(run(args.examples, args.redis_url), indent=2))


if __name__ == "__main__":
    main()
