"""The training job spec: one pydantic model that the API validates before enqueueing and the worker on start."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from models.architectures import ARCHITECTURES, Architecture
from models.latents import PRIORS, Distribution
from models.losses import OBJECTIVES
from models.names import validate_model_name
from models.optimizers import OptimizerChoice

DatasetKind = Literal["synthetic", "fashion-mnist", "idx", "folder"]


def resolve_dataset_path(path: str, roots: list[Path]) -> Path:
    """`path` resolved through symlinks, if it lies under one of `roots`; ValueError otherwise."""
    resolved = Path(path).resolve()
    for root in roots:
        if resolved.is_relative_to(root.resolve()):
            return resolved
    raise ValueError(f"dataset path {path!r} is outside the allowed data roots "
                     f"({', '.join(str(r) for r in roots) or 'none configured: set GAN_DATA_ROOTS'})")


class DatasetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: DatasetKind = Field(description="synthetic (for tests), fashion-mnist (Debian's package), "
                                          "idx (a directory in the MNIST IDX format) or folder (images)")
    path: str | None = Field(None, description="directory for idx and folder datasets, under a configured data root")
    split: Literal["train", "test"] = "train"
    limit: Annotated[int, Field(ge=1)] | None = Field(None, description="use at most this many images")

    @model_validator(mode="after")
    def _path_where_needed(self) -> "DatasetSpec":
        if self.kind in ("idx", "folder") and not self.path:
            raise ValueError(f"dataset kind {self.kind!r} needs a 'path'")
        return self


class ResumeFrom(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(description="registry model whose version to continue from")
    version: str = Field("latest", description="'latest', 'best' or a version number")

    @field_validator("model")
    @classmethod
    def _model_name(cls, v: str) -> str:
        return validate_model_name(v)


Rate = Annotated[float, Field(ge=0, lt=1)]
Betas = tuple[Rate, Rate]


class OptimizerSpec(BaseModel):
    """One network's optimizer; anything left out comes from the shared lr/betas, then the architecture."""

    model_config = ConfigDict(extra="forbid")
    name: Literal["adam", "rmsprop", "sgd"] | None = None
    lr: Annotated[float, Field(gt=0, le=1)] | None = None
    betas: Betas | None = Field(None, description="adam only")
    momentum: Rate | None = Field(None, description="rmsprop and sgd only")


# options that only some architectures read (Architecture.options); giving one to another is a mistake
ARCHITECTURE_OPTIONS = ("upsample", "kernel_size", "d_norm", "condition", "growth_phase_steps")


class TrainSpec(BaseModel):
    """Fields left at None take the architecture's recipe (models.architectures: its paper's traits, with
    learning rates and schedule tuned on Fashion-MNIST, docs/quality.md); batch 64 as in the DCGAN paper."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "model": "my-gan", "dataset": {"kind": "synthetic"}, "architecture": "dcgan", "image_size": 32,
        "channels": 1, "batch_size": 16, "steps": 40, "checkpoint_every": 20, "seed": 0}, {
        "model": "fashion-wgan-gp", "dataset": {"kind": "fashion-mnist"}, "architecture": "wgan-gp",
        "image_size": 28, "base_width": 32, "steps": 5000, "sample_every": 250}, {
        "model": "fashion-progan", "dataset": {"kind": "fashion-mnist"}, "architecture": "progan",
        "image_size": 32, "base_width": 64, "steps": 7000, "augment_flip": True}]})

    model: str = Field(description="registry name the versions are published under")
    dataset: DatasetSpec
    architecture: str = Field("dcgan", description="; ".join(f"{a.name}: {a.summary}" for a in ARCHITECTURES.values()))
    objective: str | None = Field(None, description="loss; default: the architecture's own")
    image_size: int | tuple[int, int] | None = Field(
        None, description="side, or [height, width]; default: the data's own 28 for fashion-mnist, else 32")
    channels: Literal[1, 3] = 1
    latent_dim: Annotated[int, Field(ge=1, le=1024)] = 100
    latent_distribution: Distribution = Field(
        "normal", description="prior of the latents: " + "; ".join(f"{p.name}: {p.summary}" for p in PRIORS.values()))
    base_width: Annotated[int, Field(ge=4, le=256)] = 64
    upsample: Literal["transposed", "nearest"] = "transposed"
    kernel_size: Literal[4, 5] = 4
    batch_size: Annotated[int, Field(ge=2)] = 64
    steps: Annotated[int, Field(ge=1)] = 1000
    checkpoint_every: Annotated[int, Field(ge=1)] = 500
    sample_every: Annotated[int, Field(ge=1)] = 100
    lr: Annotated[float, Field(gt=0, le=1)] | None = Field(
        None, description="learning rate of both networks; default: the architecture's (2e-4 for DCGAN)")
    betas: Betas | None = Field(None, description="Adam betas of both networks; default: the architecture's")
    optimizer_g: OptimizerSpec | None = Field(None, description="the generator's optimizer, overriding lr/betas")
    optimizer_d: OptimizerSpec | None = Field(None, description="the discriminator's optimizer, overriding lr/betas")
    lr_decay_from: Annotated[float, Field(ge=0, le=1)] | None = Field(
        None, description="both learning rates fall linearly to zero from this fraction of `steps` to the last "
                          "step; 1 keeps them constant; default: the architecture's")
    d_steps: Annotated[int, Field(ge=1, le=100)] | None = Field(
        None, description="discriminator (critic) steps per generator step; default: the architecture's (2 for wgan, else 1)")
    weight_clip: Annotated[float, Field(ge=0, le=10)] | None = Field(
        None, description="clamp critic weights to +-this after each step (WGAN: 0.01); 0 turns it off")
    gradient_penalty: Annotated[float, Field(ge=0, le=1000)] | None = Field(
        None, description="gradient penalty lambda on interpolates (WGAN-GP, ProGAN: 10); 0 turns it off")
    d_norm: Literal["batch", "layer", "spectral", "none"] | None = Field(
        None, description="normalisation in convolutional discriminators: batch, layer, spectral (SN-GAN) or "
                     "none; default batch, layer for wgan-gp")
    condition: Literal["multiply", "concatenate"] | None = Field(
        None, description="cgan: how the label embedding meets z; default concatenate")
    growth_phase_steps: Annotated[int, Field(ge=1)] | None = Field(
        None, description="progan: steps per fade-in and per stabilisation phase; default: growing takes the first half of `steps`")
    label_flip: Rate = Field(0.0, description="probability of labelling a real image fake in D's step (0.35 in "
                                              "the MATLAB example); probability objectives only")
    label_smoothing: Annotated[float, Field(ge=0, le=0.5)] = Field(
        0.0, description="one-sided: real targets are 1 - this (0.1 is common); probability objectives only")
    d_input_dropout: Rate = Field(0.0, description="dropout on the discriminator's input (0.5 in the MATLAB example)")
    augment_flip: bool | None = Field(None, description="flip half of each real batch horizontally; "
                                      "default: on for image folders (photos), off for IDX and synthetic data")
    metrics_every: Annotated[int, Field(ge=1)] = Field(10, description="steps per recorded metrics window")
    resume: ResumeFrom | None = Field(None, description="continue from a registry version: weights, optimizer "
                                                        "state and step; 'steps' counts from that model's start")
    ema_decay: Annotated[float, Field(ge=0, lt=1)] = 0.999
    seed: int = 0
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="autocast dtype of training steps; auto: bf16 on CUDA (fp16 with loss scaling on "
                            "GPUs without bf16); on CPU bf16 for dcgan and cdcgan where the CPU has native bf16, "
                            "else fp32")
    eval_samples: Annotated[int, Field(ge=0, le=50_000)] = Field(
        2000, description="samples scored at each checkpoint (FD, KID, coverage...); 0 skips scoring")

    @field_validator("model")
    @classmethod
    def _model_name(cls, v: str) -> str:
        return validate_model_name(v)

    @model_validator(mode="before")
    @classmethod
    def _native_size(cls, data):
        # Fashion-MNIST at its own 28x28: resizing it to 32 blurs every image the networks learn from
        if isinstance(data, dict) and data.get("image_size") is None:
            kind = (data.get("dataset") or {}).get("kind") if isinstance(data.get("dataset"), dict) else None
            data = {**data, "image_size": 28 if kind == "fashion-mnist" else 32}
        return data

    @field_validator("architecture")
    @classmethod
    def _known_architecture(cls, v: str) -> str:
        if v not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {v!r}; valid: {', '.join(sorted(ARCHITECTURES))}")
        return v

    @field_validator("objective")
    @classmethod
    def _known_objective(cls, v: str | None) -> str | None:
        if v is not None and v not in OBJECTIVES:
            raise ValueError(f"unknown objective {v!r}; valid: {', '.join(sorted(OBJECTIVES))}")
        return v

    @field_validator("image_size")
    @classmethod
    def _sane_size(cls, v: int | tuple[int, int], info: ValidationInfo) -> int | tuple[int, int]:
        sides = (v, v) if isinstance(v, int) else v
        if min(sides) < 8 or max(sides) > 1024:
            raise ValueError("image sides must be between 8 and 1024 pixels")
        if info.data.get("architecture") in ARCHITECTURES:  # the network decides which sizes it can build
            ARCHITECTURES[info.data["architecture"]].check_size(*sides)
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "TrainSpec":
        arch = self.arch
        for option in ARCHITECTURE_OPTIONS:
            # compared with the default, not with model_fields_set: the worker re-validates a full dump
            if getattr(self, option) != type(self).model_fields[option].default and option not in arch.options:
                readers = sorted(a.name for a in ARCHITECTURES.values() if option in a.options)
                raise ValueError(f"{option!r} does not apply to architecture {arch.name!r} "
                                 f"(only to {', '.join(readers)})")
        if not OBJECTIVES[self.objective_name].probability_output and (self.label_flip or self.label_smoothing):
            raise ValueError(f"label_flip and label_smoothing need a probability objective, not "
                             f"{self.objective_name!r} (valid: minimax, non-saturating)")
        if self.weight_clip_value and self.gradient_penalty_value:
            raise ValueError("use weight_clip or gradient_penalty, not both (set the other to 0)")
        if self.gradient_penalty_value and self.d_norm_name == "batch" and "d_norm" in arch.options:
            raise ValueError("a gradient penalty needs a critic without batch norm: set d_norm to 'layer' or 'none'")
        for network in ("g", "d"):
            self.optimizer_choice(network)  # raises for betas on RMSprop and the like
        return self

    # the architecture's defaults, filled in where the user left a field out

    @property
    def arch(self) -> Architecture:
        return ARCHITECTURES[self.architecture]

    @property
    def d_steps_value(self) -> int:
        return self.d_steps if self.d_steps is not None else self.arch.defaults.d_steps

    @property
    def lr_decay_from_value(self) -> float:
        return self.lr_decay_from if self.lr_decay_from is not None else self.arch.defaults.lr_decay_from

    @property
    def weight_clip_value(self) -> float:
        return self.weight_clip if self.weight_clip is not None else self.arch.defaults.weight_clip

    @property
    def gradient_penalty_value(self) -> float:
        return self.gradient_penalty if self.gradient_penalty is not None else self.arch.defaults.gradient_penalty

    @property
    def drift_value(self) -> float:
        return self.arch.defaults.drift

    @property
    def mode_seeking_value(self) -> float:
        return self.arch.defaults.mode_seeking

    @property
    def d_norm_name(self) -> str:
        return self.d_norm or self.arch.defaults.d_norm

    def optimizer_choice(self, network: Literal["g", "d"]) -> OptimizerChoice:
        own = (self.optimizer_g if network == "g" else self.optimizer_d) or OptimizerSpec()
        base = self.arch.defaults.optimizer
        name = own.name or base.name
        betas = own.betas or self.betas
        momentum = own.momentum
        if betas is not None and name != "adam":
            raise ValueError(f"betas apply to adam, not to the {name} optimizer of network {network.upper()}")
        if momentum is not None and name == "adam":
            raise ValueError(f"momentum applies to rmsprop and sgd, not to adam (network {network.upper()})")
        return OptimizerChoice(name=name, lr=own.lr or self.lr or base.lr, betas=tuple(betas or base.betas),
                               momentum=momentum if momentum is not None else base.momentum)

    def effective(self) -> dict:
        """What the job trains with, defaults filled in: recorded in every checkpoint's metadata."""
        return {"objective": self.objective_name, "d_steps": self.d_steps_value,
                "optimizer_g": self.optimizer_choice("g").__dict__, "optimizer_d": self.optimizer_choice("d").__dict__,
                "weight_clip": self.weight_clip_value, "gradient_penalty": self.gradient_penalty_value,
                "drift": self.drift_value, "d_norm": self.d_norm_name, "augment_flip": self.flip_value,
                "lr_decay_from": self.lr_decay_from_value, "mode_seeking": self.mode_seeking_value,
                "ema_standing_statistics": self.arch.defaults.standing_statistics}

    @property
    def flip_value(self) -> bool:
        # photos of objects are mirror-symmetric in distribution; digits and Fashion-MNIST's shoes are not
        return self.augment_flip if self.augment_flip is not None else self.dataset.kind == "folder"

    @property
    def height(self) -> int:
        return self.image_size if isinstance(self.image_size, int) else self.image_size[0]

    @property
    def width(self) -> int:
        return self.image_size if isinstance(self.image_size, int) else self.image_size[1]

    @property
    def objective_name(self) -> str:
        return self.objective or ARCHITECTURES[self.architecture].objective
