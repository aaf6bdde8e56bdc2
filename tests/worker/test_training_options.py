"""The training options of the /train body act in the one loop: critic steps, clipping, stabilisers,
resuming, seeds, and the metrics and warnings a person watching the run sees."""

import math

import pytest
import torch

from models.spec import TrainSpec
from worker.datasets import TrainingData, synthetic
from worker.monitor import Monitor
from worker.trainer import Callbacks, Trainer

torch.set_num_threads(1)


def _spec(**fields) -> TrainSpec:
    return TrainSpec.model_validate({"model": "t", "dataset": {"kind": "synthetic"}, "architecture": "dcgan",
                                     "image_size": 16, "channels": 1, "batch_size": 8, "base_width": 8,
                                     "steps": 3, "checkpoint_every": 100, "metrics_every": 1} | fields)


def _trainer(spec, published=None, records=None, warnings=None, resume=None, monitor=None, data=None):
    published = published if published is not None else []
    callbacks = Callbacks(publish=lambda c: published.append(c) or f"{len(published):06d}",
                          metrics=records.append if records is not None else lambda r: None,
                          warning=warnings.append if warnings is not None else lambda m: None)
    data = data or synthetic(spec.height, spec.width, spec.channels, count=32)
    return Trainer(spec, data, callbacks, torch.device("cpu"), progress_every_s=0.0, resume=resume, monitor=monitor)


def test_the_critic_steps_d_steps_times_per_generator_step():
    trainer = _trainer(_spec(architecture="wgan", steps=2, d_steps=5))
    trainer.run()
    d_steps = [s["step"] for s in trainer.opt_d.state.values()]
    g_steps = [s["step"] for s in trainer.opt_g.state.values()]
    assert isinstance(trainer.opt_d, torch.optim.RMSprop)
    assert {int(s) for s in d_steps} == {10} and {int(s) for s in g_steps} == {2}


def test_wgan_keeps_every_critic_weight_within_the_clip():
    trainer = _trainer(_spec(architecture="wgan", steps=2, weight_clip=0.005))
    trainer.run()
    assert max(p.abs().max().item() for p in trainer.D.parameters()) <= 0.005


def test_wgan_gp_records_the_penalty_and_the_wasserstein_estimate():
    records = []
    _trainer(_spec(architecture="wgan-gp", steps=2, d_steps=1), records=records).run()
    assert {"wasserstein", "gradient_penalty", "loss_d", "loss_g", "diversity"} <= set(records[-1])
    assert "score_g" not in records[-1]


def test_probability_objectives_record_the_matlab_scores():
    records = []
    _trainer(_spec(), records=records).run()
    assert [r["step"] for r in records] == [1, 2, 3]
    assert all(0 <= r["score_g"] <= 1 and 0 <= r["score_d"] <= 1 for r in records)


def test_progressive_growth_is_recorded_and_ends_at_the_final_resolution():
    records = []
    trainer = _trainer(_spec(architecture="progan", base_width=8, steps=10, growth_phase_steps=2), records=records)
    trainer.run()
    assert [r["resolution"] for r in records][:4] == [4, 4, 8, 8]
    assert records[2]["alpha"] == 0.0 and records[3]["alpha"] == 0.5
    assert trainer.G.growth_state() == (2, 1.0)


def test_one_sided_label_smoothing_and_label_flipping_set_the_real_targets():
    assert torch.all(_trainer(_spec(label_smoothing=0.1))._real_targets(16) == 0.9)
    targets = _trainer(_spec(label_flip=0.35))._real_targets(4000)
    assert set(targets.tolist()) == {0.0, 1.0}
    assert (targets == 0).float().mean().item() == pytest.approx(0.35, abs=0.03)


def test_discriminator_input_dropout_zeroes_about_that_fraction_of_pixels():
    dropped = _trainer(_spec(d_input_dropout=0.5))._d_input(torch.ones(64, 1, 16, 16))
    assert (dropped == 0).float().mean().item() == pytest.approx(0.5, abs=0.05)


def test_flip_augmentation_mirrors_about_half_of_each_real_batch():
    image = torch.zeros(1, 1, 16, 16, dtype=torch.uint8)
    image[..., :4] = 255  # a bar on the left
    data = TrainingData(image.repeat(64, 1, 1, 1), None, None, "bar")
    trainer = _trainer(_spec(augment_flip=True, batch_size=64), data=data)
    real, _ = trainer._batch()
    mirrored = (real[:, 0, 0, -1] > 0).float().mean().item()
    assert 0.3 < mirrored < 0.7
    assert torch.all((real[:, 0, 0, 0] > 0) != (real[:, 0, 0, -1] > 0))


@pytest.mark.parametrize("architecture", ["wgan-gp", "progan", "cgan"])
def test_the_same_spec_and_seed_reproduce_the_first_checkpoint(architecture):
    extra = {"base_width": 8} if architecture != "cgan" else {}
    first, second = [], []
    for published in (first, second):
        _trainer(_spec(architecture=architecture, steps=2, seed=7, d_input_dropout=0.2, **extra), published).run()
    for key, value in first[0].generator_state.items():
        assert torch.equal(value, second[0].generator_state[key]), key


def test_resuming_applies_the_new_jobs_learning_rate_to_the_saved_optimizer_state():
    published = []
    _trainer(_spec(steps=2), published).run()
    resumed = _trainer(_spec(steps=4, lr=1e-3), resume=(published[0].training_state, published[0].training_info))
    assert resumed.step == 2
    assert all(g["lr"] == 1e-3 for g in resumed.opt_g.param_groups)
    assert len(resumed.opt_d.state) > 0  # Adam's moments came back


def test_resuming_another_architecture_or_an_exhausted_step_count_is_refused():
    published = []
    _trainer(_spec(steps=2), published).run()
    state = (published[0].training_state, published[0].training_info)
    with pytest.raises(ValueError, match="is a 'dcgan' model"):
        _trainer(_spec(architecture="wgan-gp", steps=4), resume=state)
    with pytest.raises(ValueError, match="networks differ"):
        _trainer(_spec(steps=4, base_width=16), resume=state)
    with pytest.raises(ValueError, match="set steps above it"):
        _trainer(_spec(steps=2), resume=state)


def test_a_generator_that_draws_one_image_for_every_latent_is_reported_as_collapsed():
    warnings = []
    trainer = _trainer(_spec(steps=4, optimizer_g={"lr": 1e-12}), warnings=warnings,
                       monitor=Monitor(window_steps=1, sustained_steps=3, collapse_after_steps=0))
    torch.nn.init.zeros_(trainer.G.body[-2].weight)  # the last convolution: tanh(0) everywhere
    trainer.run()
    assert len(warnings) == 1 and "mode collapse" in warnings[0]


@pytest.mark.parametrize("architecture", ["wgan", "wgan-gp"])
def test_several_critic_steps_train_under_fp16_loss_scaling(architecture):
    records = []
    trainer = _trainer(_spec(architecture=architecture, steps=2, d_steps=3, precision="fp16"), records=records)
    trainer.run()
    assert trainer.scaler.is_enabled()
    assert all(math.isfinite(v) for r in records for v in r.values())
