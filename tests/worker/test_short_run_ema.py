"""The served generator of a short job is the trained one: after the playground's 200 steps the EMA's samples
are at least as close to the data as the raw generator's, on a real run over Fashion-MNIST."""

from pathlib import Path

import pytest
import torch

from models.evaluation import evaluate, fashion_mnist_reference
from models.evaluator import load_evaluator
from models.spec import TrainSpec
from worker import datasets
from worker.trainer import Callbacks, Trainer

FASHION = Path("/usr/share/datasets/fashion-mnist")
N = 2000


@pytest.mark.skipif(not FASHION.is_dir(), reason="Fashion-MNIST is not installed")
def test_after_200_steps_the_served_ema_is_at_least_as_close_to_the_data_as_the_raw_generator(tmp_path):
    spec = TrainSpec.model_validate({"model": "short", "dataset": {"kind": "fashion-mnist"}, "architecture": "dcgan",
                                     "steps": 200, "checkpoint_every": 200, "sample_every": 200, "eval_samples": 0})
    data = datasets.load(spec.dataset, spec.height, spec.width, spec.channels, FASHION, [], seed=spec.seed)
    trainer = Trainer(spec, data, Callbacks(publish=lambda checkpoint: ""), torch.device("cpu"))
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        trainer.run()
    finally:
        torch.set_num_threads(threads)
    assert trainer.step == 200

    reference = fashion_mnist_reference(FASHION, tmp_path, load_evaluator())
    served = evaluate(trainer.served_generator(), spec.latent_dim, 0, reference, N)["fd"]
    raw = evaluate(trainer.G, spec.latent_dim, 0, reference, N)["fd"]
    assert trainer.served_generator() is trainer.G_ema
    assert served <= raw, f"the served EMA's FD {served:.1f} is worse than the raw generator's {raw:.1f}"
