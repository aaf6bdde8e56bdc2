"""Watching a run: per-window means of losses and scores, and warnings when a run diverges or collapses."""

from __future__ import annotations

import math

import torch

SATURATED_D = 0.99  # D score: D(x) -> 1 and D(G(z)) -> 0 ...
SATURATED_G = 0.01  # ... and G score: D(G(z)) -> 0; the generator's gradient has vanished
COLLAPSED = 0.1  # fake batch diversity below a tenth of the real batch's: samples near-identical
SUSTAINED_STEPS = 100  # a condition must hold this long (in steps, at least 3 windows) to be reported
COLLAPSE_AFTER_STEPS = 200  # an untrained generator's samples are near-identical too: that is no collapse


class MetricsWindow:
    """Sums 0-dim tensors on their device and synchronises once per window, when it is flushed."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def add(self, stats: dict[str, torch.Tensor]) -> None:
        for key, value in stats.items():
            value = value.detach().float()
            self.sums[key] = self.sums[key] + value if key in self.sums else value
        self.count += 1

    def flush(self) -> dict[str, float] | None:
        if not self.count:
            return None
        means = {k: v.item() / self.count for k, v in self.sums.items()}
        self.sums, self.count = {}, 0
        return means


def batch_diversity(images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Mean per-pixel standard deviation across a (N, C, H, W) batch; within each class when labelled,
    so a conditional generator that draws one image per class counts as collapsed."""
    images = images.detach().float()
    if labels is None or labels.is_floating_point():
        return images.std(dim=0).mean()
    spreads = [images[labels == c].std(dim=0).mean() for c in labels.unique() if int((labels == c).sum()) >= 2]
    return torch.stack(spreads).mean() if spreads else images.std(dim=0).mean()


class Monitor:
    """Turns metric records into warnings, each once per episode (it re-arms when the run recovers)."""

    def __init__(self, window_steps: int, sustained_steps: int = SUSTAINED_STEPS,
                 collapse_after_steps: int = COLLAPSE_AFTER_STEPS):
        self.needed = max(3, math.ceil(sustained_steps / window_steps))
        self.collapse_after_steps = collapse_after_steps
        self.streaks = {"saturated": 0, "collapsed": 0}
        self.warned = {"saturated": False, "collapsed": False}

    def _update(self, kind: str, holds: bool) -> bool:
        self.streaks[kind] = self.streaks[kind] + 1 if holds else 0
        if not holds:
            self.warned[kind] = False
        if self.streaks[kind] >= self.needed and not self.warned[kind]:
            self.warned[kind] = True
            return True
        return False

    def check(self, record: dict[str, float]) -> list[str]:
        warnings = []
        step = int(record["step"])
        if "score_d" in record and "score_g" in record:
            saturated = record["score_d"] >= SATURATED_D and record["score_g"] <= SATURATED_G
            if self._update("saturated", saturated):
                warnings.append(f"step {step}: the discriminator has saturated (D score {record['score_d']:.3f}, "
                                f"G score {record['score_g']:.3f} for {self.needed} windows): the generator "
                                "gets no gradient; lower D's learning rate, add label smoothing or restart")
        if "diversity" in record and step > self.collapse_after_steps:
            if self._update("collapsed", record["diversity"] < COLLAPSED):
                warnings.append(f"step {step}: mode collapse: generated samples in a batch are near-identical "
                                f"(diversity {record['diversity']:.3f} of the real batch's for {self.needed} "
                                "windows)")
        return warnings
