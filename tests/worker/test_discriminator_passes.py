"""Real and fake images share one discriminator pass exactly when no output depends on the rest of its batch."""

import contextlib

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
                                     "checkpoint_every": 100, "metrics_every": 1, "precision": "fp32", **fields})
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


@pytest.mark.parametrize("architecture,fields", [("dcgan", {"base_width": 8}), ("wgan-gp", {"base_width": 8}),
                                                  ("progan", {"base_width": 16})])
def test_generator_update_computes_no_discriminator_gradients(monkeypatch, architecture, fields):
    """G's step back-propagates through D without D's weight gradients: D keeps the gradients of its own step."""
    import worker.trainer as trainer_module

    trained, unfrozen = _trainer(architecture, **fields), _trainer(architecture, **fields)
    d_step_grads = []
    step_d = trained.opt_d.step

    def step_d_noting_its_gradients(*args, **kwargs):
        d_step_grads.append([None if p.grad is None else p.grad.clone() for p in trained.D.parameters()])
        return step_d(*args, **kwargs)

    monkeypatch.setattr(trained.opt_d, "step", step_d_noting_its_gradients)
    trained._train_step()
    assert all(p.requires_grad for p in trained.D.parameters())
    for p, grad in zip(trained.D.parameters(), d_step_grads[-1]):
        assert (p.grad is None and grad is None) or torch.equal(p.grad, grad)  # progan: unused levels have none
    # and G learns exactly what it learned when D's gradients were computed and thrown away
    monkeypatch.setattr(trainer_module, "_frozen", lambda network: contextlib.nullcontext())
    unfrozen._train_step()
    for (name, a), b in zip(trained.G.state_dict().items(), unfrozen.G.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-6), name
