"""TrainSpec fills in each architecture's paper defaults and names what to fix in inconsistent specs."""

import pytest
from pydantic import ValidationError

from models.spec import TrainSpec


def _spec(**fields) -> TrainSpec:
    return TrainSpec.model_validate({"model": "t", "dataset": {"kind": "synthetic"}, **fields})


def test_dcgan_defaults_are_adam_1e_3_beta1_0_5_annealed_over_the_second_half_and_one_d_step():
    spec = _spec(architecture="dcgan")
    assert spec.optimizer_choice("g").__dict__ == {"name": "adam", "lr": 1e-3, "betas": (0.5, 0.999), "momentum": 0.0}
    assert spec.d_steps_value == 1 and spec.weight_clip_value == 0 and spec.gradient_penalty_value == 0
    assert spec.lr_decay_from_value == 0.5


@pytest.mark.parametrize("architecture", ["gan", "cgan"])
def test_mlp_defaults_keep_the_papers_constant_rate(architecture):
    spec = _spec(architecture=architecture)
    assert (spec.optimizer_choice("g").name, spec.optimizer_choice("g").lr) == ("adam", 2e-4)
    assert spec.lr_decay_from_value == 1.0


def test_fashion_mnist_trains_at_its_own_28x28_unless_asked_otherwise():
    assert _spec(dataset={"kind": "fashion-mnist"}).image_size == 28
    assert _spec(dataset={"kind": "fashion-mnist"}, image_size=32).image_size == 32
    assert _spec(dataset={"kind": "synthetic"}).image_size == 32


def test_wgan_defaults_keep_rmsprop_and_clipping_at_0_01_with_two_critic_steps():
    spec = _spec(architecture="wgan")
    assert spec.objective_name == "wasserstein"
    assert (spec.optimizer_choice("d").name, spec.optimizer_choice("d").lr) == ("rmsprop", 5e-4)
    assert spec.d_steps_value == 2 and spec.weight_clip_value == 0.01


def test_wgan_gp_defaults_keep_lambda_10_and_a_layer_norm_critic_with_one_critic_step():
    spec = _spec(architecture="wgan-gp")
    d = spec.optimizer_choice("d")
    assert (d.name, d.lr, d.betas) == ("adam", 5e-4, (0.5, 0.9))
    assert spec.gradient_penalty_value == 10 and spec.d_steps_value == 1 and spec.d_norm_name == "layer"
    assert spec.weight_clip_value == 0


def test_user_choices_override_the_architecture_per_network():
    spec = _spec(architecture="wgan", lr=1e-4, d_steps=2, optimizer_g={"name": "adam", "betas": [0.5, 0.9]})
    assert spec.optimizer_choice("d").__dict__ == {"name": "rmsprop", "lr": 1e-4, "betas": (0.5, 0.999),
                                                  "momentum": 0.0}
    assert (spec.optimizer_choice("g").name, spec.optimizer_choice("g").betas) == ("adam", (0.5, 0.9))
    assert spec.d_steps_value == 2
    assert spec.effective()["optimizer_g"]["lr"] == 1e-4


@pytest.mark.parametrize("fields,message", [
    ({"architecture": "wgan", "betas": [0.5, 0.9]}, "betas apply to adam"),
    ({"architecture": "dcgan", "optimizer_d": {"momentum": 0.9}}, "momentum applies to rmsprop and sgd"),
    ({"architecture": "wgan", "label_flip": 0.35}, "need a probability objective"),
    ({"architecture": "wgan-gp", "weight_clip": 0.01}, "not both"),
    ({"architecture": "wgan-gp", "d_norm": "batch"}, "without batch norm"),
    ({"architecture": "dcgan", "condition": "multiply"}, "'condition' does not apply to architecture 'dcgan'"),
    ({"architecture": "gan", "upsample": "nearest"}, "'upsample' does not apply"),
    ({"architecture": "progan", "image_size": 40}, "power of two"),
    ({"architecture": "dcgan", "image_size": 27}, "cannot be built"),
    ({"architecture": "stylegan"}, "valid: cdcgan, cgan, dcgan, gan, progan, wgan, wgan-gp"),
])
def test_inconsistent_specs_are_refused_naming_the_fix(fields, message):
    with pytest.raises(ValidationError, match=message):
        _spec(**fields)


def test_the_mlp_gan_takes_any_image_size():
    assert _spec(architecture="gan", image_size=[28, 20]).width == 20


def test_stabilisers_from_practice_are_accepted_for_probability_objectives():
    spec = _spec(architecture="dcgan", label_flip=0.35, label_smoothing=0.1, d_input_dropout=0.5, augment_flip=True)
    assert spec.label_flip == 0.35 and spec.augment_flip


def test_a_full_dump_of_a_valid_spec_validates_again_as_the_worker_does():
    for architecture in ("gan", "cgan", "progan", "wgan-gp"):
        spec = _spec(architecture=architecture, image_size=16)
        assert TrainSpec.model_validate(spec.model_dump(mode="json")) == spec


def test_the_dcgan_papers_64x64_model_is_reachable_from_the_train_body():
    spec = _spec(architecture="dcgan", image_size=64, channels=3, base_width=128, kernel_size=5)
    generator = spec.arch.build_generator(spec.arch.make_config(spec, 0))
    widths = [m.out_channels for m in generator.body if hasattr(m, "out_channels")]
    assert generator.c0 == 1024 and widths == [512, 256, 128, 3]
    assert generator.body[0].kernel_size == (5, 5)


def test_image_folders_are_flipped_by_default_and_other_datasets_are_not():
    folder = TrainSpec.model_validate({"model": "m", "dataset": {"kind": "folder", "path": "x"}})
    assert folder.flip_value and folder.effective()["augment_flip"]
    assert not _spec().flip_value
    assert not TrainSpec.model_validate({"model": "m", "dataset": {"kind": "folder", "path": "x"},
                                         "augment_flip": False}).flip_value
