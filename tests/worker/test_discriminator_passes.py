"""Real and fake images share one discriminator pass exactly when no output depends on the rest of its batch."""

import pytest
import torch

from models.architectures import mixes_samples
from models.spec import TrainSpec
from worker.datasets import synthetic
from worker.trainer import Callbacks, Trainer

torch.set_num_threads(1)


def _trainer(architecture: str, size: int = 16, **fields) -> Trainer:
    spec = TrainSpec.model_validate({"model": "t", "dataset": {"kind": "synthetic"}, "architecture": architecture,
                                     "image_size": size, "channels": 1, "batch_size": 8, "steps": 3,
                                     "checkpoint_every": 100, "metrics_every": 1, **fields})
    return Trainer(spec, synthetic(spec.height, spec.width, 1, count=32), Callbacks(publish=lambda c: "000001"),
                   torch.device("cpu"), progress_every_s=0.0)


@pytest.mark.parametrize("architecture,fields,mixes", [
    ("dcgan", {"base_width": 8}, True),  # batch norm
    ("gan", {}, False),  # the MLP discriminator: dropout, no batch statistics
    ("progan", {"base_width": 16}, True),  # minibatch standard deviation
    ("wgan-gp", {"base_width": 8}, False),  # layer norm
    ("cdcgan", {"base_width": 8, "d_norm": "spectral", "objective": "hinge"}, False),
    ("cdcgan", {"base_width": 8, "d_norm": "none"}, False),
])
def test_which_discriminators_mix_the_samples_of_a_batch(architecture, fields, mixes):
    trainer = _trainer(architecture, **fields)
    assert mixes_samples(trainer.D) is mixes
    assert trainer.joint_d_pass is not mixes


def test_one_joint_pass_trains_like_two_separate_ones():
    joint, separate = _trainer("cdcgan", base_width=8, d_norm="none"), _trainer("cdcgan", base_width=8, d_norm="none")
    separate.joint_d_pass = False
    joint.run(), separate.run()
    for (name, a), b in zip(joint.G.state_dict().items(), separate.G.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-5), name
    for (name, a), b in zip(joint.D.state_dict().items(), separate.D.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-5), name
