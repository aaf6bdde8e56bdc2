"""torch.compile against the served forward: images/s by batch size, compile time, and whether bytes agree.

    python -m bench.compile --model shipped --model 64x64x3

The served forward is what the API runs (app/serving/prepare.py's `prepare`: the probe's precision, channels-last,
the traced graph where its bytes equal eager's). Beside it, the same generator and quantisation compiled by
`torch.compile` (inductor, static shapes, one compilation per batch size), plain and with inductor's weight
freezing, under the same autocast. Per batch size, the variants are timed in turns over --rounds rounds
(medians). A compiled forward is only usable if it is faster and keeps the service's promise of the same
bytes for a seed in any batch, so the largest per-pixel difference from the served images is reported too,
and so is one forward's time beside a thread running Python without pause (as the inference thread meets
a busy event loop; bench/serve.py's measure, at the API's switch interval).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from app.serving.graphs import Rendering
from app.serving.prepare import DTYPES, prepare
from app.serving.process import SWITCH_INTERVAL_S
from bench.serve import CONFIGS, SHIPPED, beside_busy_python, timed, write_random_model
from models import checkpoint
from models.latents import seed_latents
from models.registry import Registry

BATCHES = (1, 16, 64)


def load(config_name: str, root: Path) -> tuple[torch.nn.Module, dict]:
    if config_name == "shipped":
        name = SHIPPED.models()[0]
        return checkpoint.load_generator(SHIPPED.path(name, SHIPPED.latest(name)))
    registry = Registry(root)
    write_random_model(registry, "m", config_name)
    return checkpoint.load_generator(registry.path("m", "000001"))


def compiled_forward(generator: torch.nn.Module, dtype: torch.dtype, freezing: bool):
    rendering = torch.compile(Rendering(generator).eval(), dynamic=False, options={"freezing": freezing})

    def forward(z: torch.Tensor, labels: torch.Tensor | None) -> np.ndarray:
        with torch.inference_mode(), torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
            return rendering(z, labels).numpy()

    return forward


def bench_model(config_name: str, rounds: int) -> dict:
    torch._dynamo.reset()  # every variant and batch size compiles afresh, not into another model's cache
    with tempfile.TemporaryDirectory() as tmp:
        generator, metadata = load(config_name, Path(tmp))
    classes = metadata.get("classes")
    served = prepare(generator, torch.device("cpu"), metadata["latent_dim"], classes, "auto")
    dtype = DTYPES[served.precision]
    # prepare() put the generator in eval mode and channels-last, as the compiled variants should see it
    variants = {"served": served.forward,
                "compiled": compiled_forward(generator, dtype, freezing=False),
                "compiled_frozen": compiled_forward(generator, dtype, freezing=True)}
    result = {"model": config_name, "precision": served.precision, "graph": served.graph, "batches": {}}
    for batch in BATCHES:
        z = seed_latents(list(range(batch)), metadata["latent_dim"])
        labels = torch.arange(batch) % len(classes) if classes else None
        reference = served.forward(z, labels)
        row: dict[str, dict] = {}
        for name, forward in variants.items():
            start = time.perf_counter()
            images = forward(z, labels)  # the first call compiles
            row[name] = {"first_call_s": time.perf_counter() - start, "per_s": [],
                         "max_pixel_diff": int(np.abs(images.astype(np.int16) - reference.astype(np.int16)).max())}
        for _ in range(rounds):  # in turns, so that the machine's drifts weigh on every variant alike
            for name, forward in variants.items():
                row[name]["per_s"].append(batch / timed(lambda: forward(z, labels)))
        for name, forward in variants.items():  # as the inference thread meets it beside a busy event loop
            row[name]["beside_busy_python_ms"] = beside_busy_python(forward, z, labels, SWITCH_INTERVAL_S * 1000)
        for values in row.values():
            values["median_per_s"] = statistics.median(values["per_s"])
        result["batches"][batch] = row
        summary = {name: {"images_per_s": round(v["median_per_s"]), "first_call_s": round(v["first_call_s"], 2),
                          "max_pixel_diff": v["max_pixel_diff"],
                          "beside_busy_python_ms": round(v["beside_busy_python_ms"], 2)} for name, v in row.items()}
        print(json.dumps({"model": config_name, "batch": batch, **summary}), flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", choices=[*CONFIGS, "shipped"],
                        help="repeat for several; default shipped and 64x64x3")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: the API's default)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, help="write the full results as JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 1) - 1))
    # two variants by three batch sizes share Rendering.forward's code: more than dynamo's default 8 entries
    torch._dynamo.config.recompile_limit = 64
    results = [bench_model(name, args.rounds) for name in args.model or ["shipped", "64x64x3"]]
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
