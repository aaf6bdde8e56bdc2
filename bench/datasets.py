"""Images per second of a synthetic dataset job: the shipped fashion-cdcgan, 10,000 images, in each format.

    python -m bench.datasets --threads 2

Runs what a POST /datasets job runs once it has started (load the version, draw the labels, generate in
batches of 256, write the .tar.gz), without the queue, into a scratch directory; and generation alone, for
how the time divides. Prints the table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from models import dataset_archive, dataset_store
from models.checkpoint import load_generator, weights_sha256
from models.synthesis import SynthesisSpec, draw_labels, generate

SHIPPED = Path(__file__).resolve().parent.parent / "models" / "shipped" / "fashion-cdcgan" / "000001"


def make(spec: SynthesisSpec, directory: Path) -> tuple[float, int]:
    """Seconds and archive bytes of one dataset, from loading the version to the archive's rename."""
    start = time.perf_counter()
    generator, metadata = load_generator(SHIPPED)
    labels = draw_labels(spec.weights, spec.n, spec.first_seed)
    facts = dataset_archive.manifest(spec, metadata, weights_sha256(metadata), labels)
    batches = generate(generator, metadata["latent_dim"], spec.seeds, labels, spec.truncation, torch.device("cpu"))
    path = dataset_store.save(directory, facts, 60,
                              lambda scratch: dataset_archive.write(scratch, facts, batches, labels))
    return time.perf_counter() - start, path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("-n", type=int, default=10_000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator, metadata = load_generator(SHIPPED)
    labels = draw_labels([1.0] * 10, args.n, 0)
    start = time.perf_counter()
    for _ in generate(generator, metadata["latent_dim"], range(args.n), labels, 1.0, torch.device("cpu")):
        pass
    rows = [("generation alone", time.perf_counter() - start, None)]
    with tempfile.TemporaryDirectory() as scratch:
        for fmt in ("png", "idx"):
            spec = SynthesisSpec(model="fashion-cdcgan", version="000001", n=args.n, weights=[1.0] * 10, format=fmt)
            seconds, size = make(spec, Path(scratch) / fmt)
            rows.append((f"`{fmt}` dataset", seconds, size))
    print(f"\n{args.n:,} images, {args.threads} threads\n\n| | seconds | images/s | archive |\n|---|---:|---:|---:|")
    for name, seconds, size in rows:
        print(f"| {name} | {seconds:.1f} | {args.n / seconds:,.0f} | {f'{size / 2**20:.1f} MiB' if size else ''} |")


if __name__ == "__main__":
    main()
