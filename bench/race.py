"""The reference race: the project's unconditional `dcgan`, with its own defaults, against pytorch/examples'
DCGAN written by hand (bench/reference_dcgan.py), one after the other in one run, on Fashion-MNIST.

    python -m bench.race --reference-minutes 15 --project-minutes 10 --every 60 --threads 2

Each side trains for its wall-clock budget, counted from before its data is loaded, and hands over a copy of
the generator it would serve every --every seconds (the project: the EMA its checkpoints publish; the
reference: its netG). After both runs every copy is scored with the shipped extractor at N samples, so no
scoring steals either side's training time. The project must reach, within --deadline minutes, the best FD
the reference reached within its whole budget. Writes the curves as JSON and as one plot.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch
from torch import nn

from bench import reference_dcgan
from bench.curves import plot_fd
from models import idx
from models.evaluation import FULL_N, evaluate, fashion_mnist_reference
from models.evaluator import load_evaluator
from models.spec import TrainSpec
from worker import datasets
from worker.trainer import Callbacks, Trainer

REPO = Path(__file__).resolve().parent.parent
FASHION = Path("/usr/share/datasets/fashion-mnist")

PROJECT_STEPS = 5_000  # as bench/quality.py's dcgan job
Snapshot = tuple[float, int, dict[str, torch.Tensor]]  # (seconds since start, step, generator state)


def run_reference(seconds: float, every: float) -> tuple[list[Snapshot], nn.Module]:
    start = time.monotonic()
    images, _ = idx.read_split(FASHION, "train")
    snapshots: list[Snapshot] = []
    reference_dcgan.train(torch.from_numpy(images.copy())[:, None], seconds,
                          lambda t, step, g: snapshots.append((t, step, copy.deepcopy(g.state_dict()))),
                          every, start)
    return snapshots, reference_dcgan.Generator()


def run_project(seconds: float, every: float) -> tuple[list[Snapshot], nn.Module, TrainSpec]:
    start = time.monotonic()
    # the defaults a user gets, with the length of a ten-minute job; scoring at checkpoints is off for both
    # sides, and done afterwards
    spec = TrainSpec.model_validate({"model": "race", "dataset": {"kind": "fashion-mnist"},
                                     "architecture": "dcgan", "steps": PROJECT_STEPS, "eval_samples": 0,
                                     "checkpoint_every": 10_000_000, "sample_every": 10_000_000})
    data = datasets.load(spec.dataset, spec.height, spec.width, spec.channels, FASHION, [], seed=spec.seed)
    snapshots: list[Snapshot] = []
    due = [every]

    def progress(_) -> None:
        elapsed = time.monotonic() - start
        if elapsed >= due[0]:
            snapshots.append((elapsed, trainer.step, copy.deepcopy(trainer.served_generator().state_dict())))
            due[0] += every

    trainer = Trainer(spec, data, Callbacks(publish=lambda c: "", progress=progress,
                                            should_stop=lambda: time.monotonic() - start >= seconds),
                      torch.device("cpu"), progress_every_s=1.0)
    trainer.run()
    served = trainer.served_generator()
    snapshots.append((time.monotonic() - start, trainer.step, copy.deepcopy(served.state_dict())))
    blank = copy.deepcopy(served)
    return snapshots, blank, spec


def score(snapshots: list[Snapshot], network: nn.Module, wrap, n: int, reference) -> list[dict]:
    curve = []
    for seconds, step, state in snapshots:
        network.load_state_dict(state)
        result = evaluate(wrap(network), 100, 0, reference, n)
        curve.append({"minutes": round(seconds / 60, 2), "step": step, "fd": round(result["fd"], 3),
                      "coverage": round(result["coverage"], 4), "recall": round(result["recall"], 4),
                      "precision": round(result["precision"], 4)})
        print(f"  {curve[-1]}", flush=True)
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference-minutes", type=float, default=15.0)
    parser.add_argument("--project-minutes", type=float, default=10.0)
    parser.add_argument("--deadline", type=float, default=8.0, help="minutes the project has to match the reference")
    parser.add_argument("--every", type=float, default=60.0, help="seconds between scored copies")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n", type=int, default=FULL_N)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "race.json")
    parser.add_argument("--plot", type=Path, default=REPO / "docs" / "images" / "race.png")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    print(f"reference: pytorch/examples DCGAN for {args.reference_minutes:g} min", flush=True)
    reference_snapshots, reference_net = run_reference(args.reference_minutes * 60, args.every)
    print(f"project: dcgan with its defaults for {args.project_minutes:g} min", flush=True)
    project_snapshots, project_net, spec = run_project(args.project_minutes * 60, args.every)

    real = fashion_mnist_reference(FASHION, REPO / "registry" / ".reference", load_evaluator())
    print("scoring the reference", flush=True)
    reference_curve = score(reference_snapshots, reference_net, reference_dcgan.CentreCrop, args.n, real)
    print("scoring the project", flush=True)
    project_curve = score(project_snapshots, project_net, lambda g: g, args.n, real)

    target = min(p["fd"] for p in reference_curve)
    by_deadline = [p for p in project_curve if p["minutes"] <= args.deadline]
    reached = by_deadline[-1]["fd"] if by_deadline else float("inf")
    first = next((p["minutes"] for p in project_curve if p["fd"] <= target), None)
    verdict = {"reference_best_fd": target, "project_fd_at_deadline": reached, "deadline_minutes": args.deadline,
               "project_first_below_reference_best_minutes": first, "met": reached <= target}
    result = {"command": "python -m bench.race " + " ".join(
                  f"--{k.replace('_', '-')} {v:g}" for k, v in (("reference_minutes", args.reference_minutes),
                  ("project_minutes", args.project_minutes), ("every", args.every),
                  ("threads", args.threads))),
              "n": args.n, "threads": args.threads, "project_spec": spec.model_dump(mode="json"),
              "verdict": verdict, "reference": reference_curve, "project": project_curve}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    plot_fd({"pytorch/examples DCGAN (reference)": reference_curve, "project dcgan, defaults": project_curve},
            args.plot, "wall-clock minutes from the start of training (data loading included)",
            deadline=args.deadline, size=(7, 4.2))
    print(json.dumps(verdict))


if __name__ == "__main__":
    main()
