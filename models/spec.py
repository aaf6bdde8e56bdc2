"""The training job spec: one pydantic model that the API validates before enqueueing and the worker on start."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from models.architectures import ARCHITECTURES
from models.dcgan import stem_size
from models.losses import OBJECTIVES
from models.names import validate_model_name

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
    model: str
    version: str = "latest"


class TrainSpec(BaseModel):
    """Defaults are the DCGAN paper's: Adam 2e-4, beta1 0.5, batch 64 (the reference uses 128)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "model": "my-gan", "dataset": {"kind": "synthetic"}, "architecture": "dcgan", "image_size": 32,
        "channels": 1, "batch_size": 16, "steps": 40, "checkpoint_every": 20, "seed": 0}]})

    model: str = Field(description="registry name the versions are published under")
    dataset: DatasetSpec
    architecture: str = "dcgan"
    objective: str | None = Field(None, description="loss; default: the architecture's own")
    image_size: int | tuple[int, int] = Field(32, description="side, or [height, width]")
    channels: Literal[1, 3] = 1
    latent_dim: Annotated[int, Field(ge=1, le=1024)] = 100
    base_width: Annotated[int, Field(ge=4, le=256)] = 64
    upsample: Literal["transposed", "nearest"] = "transposed"
    kernel_size: Literal[4, 5] = 4
    batch_size: Annotated[int, Field(ge=2)] = 64
    steps: Annotated[int, Field(ge=1)] = 1000
    checkpoint_every: Annotated[int, Field(ge=1)] = 500
    sample_every: Annotated[int, Field(ge=1)] = 100
    lr: Annotated[float, Field(gt=0, le=1)] = 2e-4
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = (0.5, 0.999)
    ema_decay: Annotated[float, Field(ge=0, lt=1)] = 0.999
    seed: int = 0
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="autocast dtype of training steps; auto: bf16 on CUDA (fp16 with loss scaling on "
                            "GPUs without bf16), fp32 on CPU")

    @field_validator("model")
    @classmethod
    def _model_name(cls, v: str) -> str:
        return validate_model_name(v)

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
    def _sane_size(cls, v: int | tuple[int, int]) -> int | tuple[int, int]:
        sides = (v, v) if isinstance(v, int) else v
        if min(sides) < 8 or max(sides) > 1024:
            raise ValueError("image sides must be between 8 and 1024 pixels")
        stem_size(*sides)  # the network decides which sizes it can build
        return v

    @property
    def height(self) -> int:
        return self.image_size if isinstance(self.image_size, int) else self.image_size[0]

    @property
    def width(self) -> int:
        return self.image_size if isinstance(self.image_size, int) else self.image_size[1]

    @property
    def objective_name(self) -> str:
        return self.objective or ARCHITECTURES[self.architecture].objective
