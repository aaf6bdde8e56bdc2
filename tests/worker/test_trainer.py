import math

import pytest
import torch

from models.spec import TrainSpec
from worker.datasets import synthetic
from worker.trainer import Callbacks, Trainer, ema_decay_at


def _spec(**fields) -> TrainSpec:
    return TrainSpec.model_validate({"model": "t", "dataset": {"kind": "synthetic"}, "architecture": "cdcgan",
                                     "image_size": 32, "channels": 1, "batch_size": 8, "base_width": 8,
                                     "steps": 3, "checkpoint_every": 100} | fields)


def _trainer(spec, published=None, progress=None, should_stop=lambda: False):
    published = published if published is not None else []
    callbacks = Callbacks(publish=lambda c: published.append(c) or f"{len(published):06d}",
                          progress=(progress.append if progress is not None else lambda p: None),
                          should_stop=should_stop)
    return Trainer(spec, synthetic(spec.height, spec.width, spec.channels, count=64), callbacks,
                   torch.device("cpu"), progress_every_s=0.0)


def test_training_steps_change_the_weights_and_keep_losses_finite():
    progress = []
    trainer = _trainer(_spec(), progress=progress)
    before = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    trainer.run()
    after = trainer.G.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert all(math.isfinite(v) for p in progress for v in p.losses.values())
    assert 0 <= progress[-1].scores["discriminator"] <= 1


def test_checkpoints_every_interval_and_at_the_end():
    published = []
    _trainer(_spec(steps=5, checkpoint_every=2), published).run()
    assert [c.step for c in published] == [2, 4, 5]


def test_same_spec_and_seed_reproduce_the_first_checkpoint():
    first, second = [], []
    _trainer(_spec(seed=3), first).run()
    _trainer(_spec(seed=3), second).run()
    for key, value in first[0].generator_state.items():
        assert torch.equal(value, second[0].generator_state[key])


def test_resuming_from_a_checkpoint_continues_where_it_stopped():
    full, part, rest = [], [], []
    _trainer(_spec(steps=4, checkpoint_every=2), full).run()
    _trainer(_spec(steps=4, checkpoint_every=2), part).run()
    resumed = Trainer(_spec(steps=4, checkpoint_every=2), synthetic(32, 32, 1, count=64),
                      Callbacks(publish=lambda c: rest.append(c) or "x"), torch.device("cpu"),
                      resume=(part[0].training_state, part[0].training_info))
    assert resumed.step == 2
    resumed.run()
    assert [c.step for c in rest] == [4]
    for key, value in full[-1].generator_state.items():
        assert torch.allclose(value, rest[-1].generator_state[key], atol=1e-6), key


def test_a_uniform_prior_trains_on_latents_of_the_cube_and_is_recorded():
    published = []
    trainer = _trainer(_spec(latent_distribution="uniform"), published)
    drawn = trainer._latents(256)
    assert drawn.abs().max() <= 1.0 and drawn.min() < -0.9 and trainer.fixed_z.abs().max() <= 1.0
    trainer.run()
    assert published[-1].metadata["latent_distribution"] == "uniform"


def test_resuming_with_another_prior_is_refused():
    part = []
    _trainer(_spec(steps=2), part).run()
    with pytest.raises(ValueError, match="drew normal latents, this job asks for uniform"):
        Trainer(_spec(steps=4, latent_distribution="uniform"), synthetic(32, 32, 1, count=64),
                Callbacks(publish=lambda c: "x"), torch.device("cpu"),
                resume=(part[0].training_state, part[0].training_info))


def test_cancellation_stops_early_and_publishes_what_it_has():
    published = []
    result = _trainer(_spec(steps=50), published, should_stop=lambda: True).run()
    assert result.stopped and result.step < 50 and published[-1].step == result.step


def test_a_conditional_architecture_needs_labels():
    data = synthetic(32, 32, 1, count=64)
    data.labels = None
    with pytest.raises(ValueError, match="no labels"):
        Trainer(_spec(), data, Callbacks(publish=lambda c: "x"), torch.device("cpu"))


def test_fewer_images_than_one_batch_fails_with_a_clear_message():
    with pytest.raises(ValueError, match="fewer than one batch"):
        Trainer(_spec(batch_size=128), synthetic(32, 32, 1, count=64), Callbacks(publish=lambda c: "x"),
                torch.device("cpu"))


def test_learning_rates_stay_constant_then_fall_linearly_to_zero_over_the_last_part_of_the_run():
    seen = []
    trainer = _trainer(_spec(steps=10, lr=1e-3, lr_decay_from=0.6))
    step = trainer._train_step

    def recording_step():
        out = step()
        seen.append((trainer.opt_g.param_groups[0]["lr"], trainer.opt_d.param_groups[0]["lr"]))
        return out

    trainer._train_step = recording_step
    trainer.run()
    assert [g for g, _ in seen] == [d for _, d in seen]
    assert seen[:6] == [(1e-3, 1e-3)] * 6
    assert [round(g, 6) for g, _ in seen[6:]] == [1e-3, 0.00075, 0.0005, 0.00025]


def test_the_served_average_follows_a_short_run_and_averages_a_long_one():
    assert ema_decay_at(0, 0.999) == pytest.approx(0.1)
    assert ema_decay_at(200, 0.999) < 0.96  # a 200-step job serves its last few dozen steps, not its start
    assert ema_decay_at(100_000, 0.999) == 0.999


def test_subnormal_floats_are_flushed_while_training_and_the_process_setting_is_restored_after():
    seen = []
    trainer = _trainer(_spec(steps=2))
    step = trainer._train_step
    trainer._train_step = lambda: seen.append(torch.tensor(1e-40).item()) or step()
    trainer.run()
    assert seen == [0.0, 0.0]
    assert torch.tensor(1e-40).item() != 0.0


def _mlp_spec(**fields) -> TrainSpec:
    return TrainSpec.model_validate({"model": "m", "dataset": {"kind": "synthetic"}, "architecture": "gan",
                                     "image_size": 28, "channels": 1, "batch_size": 16, "steps": 40,
                                     "checkpoint_every": 40} | fields)


def test_mlp_versions_serve_batch_norm_statistics_measured_on_the_emas_own_samples():
    published = []
    trainer = _trainer(_mlp_spec(), published)
    trainer.run()
    served = trainer.architecture.build_generator(trainer.config)
    served.load_state_dict(published[-1].generator_state)
    served.eval()
    inputs = {}
    for name, module in served.named_modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            # __setitem__ returns None: a hook that returned a value would replace the layer's output
            module.register_forward_hook(lambda m, args, out, name=name: inputs.__setitem__(name, args[0]))
    with torch.no_grad():
        served(torch.randn(4096, 100, generator=torch.Generator().manual_seed(7)), None)
    live = dict(trainer.G_ema.named_buffers())
    assert len(inputs) == 3
    for name, x in inputs.items():
        norm = served.get_submodule(name)
        # the statistics fit what the served weights produce, to within sampling error, and are not the live ones
        assert ((x.mean(0) - norm.running_mean).abs() / norm.running_var.sqrt()).max() < 0.15
        assert not torch.allclose(norm.running_mean, live[f"{name}.running_mean"])
    for key, value in trainer.G_ema.state_dict().items():
        if "running" not in key and "num_batches" not in key:
            assert torch.equal(published[-1].generator_state[key], value)
    assert published[-1].metadata["effective"]["ema_standing_statistics"]
    assert not _spec().effective()["ema_standing_statistics"]  # the convolutional recipes keep the live ones


def test_the_gan_recipe_adds_the_mode_seeking_term_to_the_generators_loss_only():
    assert _mlp_spec().effective()["mode_seeking"] == 1.0
    assert _mlp_spec(architecture="cgan").effective()["mode_seeking"] == 0.1  # more cost it label accuracy
    assert _spec().effective()["mode_seeking"] == 0.0  # the convolutional recipes go without
    with_term, without = _trainer(_mlp_spec()), _trainer(_mlp_spec())
    without.mode_seeking = 0.0
    losses = []
    for trainer in (with_term, without):
        torch.manual_seed(0)  # the discriminator's dropout draws from torch's global stream
        losses.append(trainer._train_step()["loss_g"].item())
    assert losses[0] > losses[1]  # the term is positive
    for name, value in with_term.D.state_dict().items():  # the same discriminator step
        assert torch.equal(value, without.D.state_dict()[name])
    assert not all(torch.equal(a, b) for a, b in zip(with_term.G.parameters(), without.G.parameters()))


def test_publishing_an_mlp_version_leaves_training_as_it_was():
    twice, once = [], []
    _trainer(_mlp_spec(steps=20, checkpoint_every=10), twice).run()
    _trainer(_mlp_spec(steps=20, checkpoint_every=20), once).run()
    assert [c.step for c in twice] == [10, 20] and [c.step for c in once] == [20]
    for key, value in once[-1].training_state.items():
        if key.startswith(("g.", "ema.")):
            assert torch.equal(value, twice[-1].training_state[key]), key
