"""Request and answer bodies of the HTTP API, with their limits and the examples the OpenAPI schema shows."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Mapping

from fastapi import Path
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from models.latents import Distribution, WalkMethod
from models.spec import TrainSpec
from models.synthesis import Format

# the most work one request may ask for: a forward of 64 images is a fraction of a second on a CPU
MAX_IMAGES = 64  # images per /generate request, frames per /interpolate
MAX_TERMS = 8  # terms of an /arithmetic request
MAX_GROUP = 16  # seeds or latents averaged in one term
MAX_VARIATIONS = 32  # variations of an /arithmetic result
MAX_TRAIN_STEPS = 200_000  # a few days of a small model on a CPU
MAX_BATCH_SIZE = 512
MAX_IMAGE_SIDE = 256

Label = int | Annotated[str, Field(max_length=200)]
Latent = Annotated[list[float], Field(min_length=1, max_length=4096)]
Seed = Annotated[int, Field(ge=0, lt=2**63)]
Version = Annotated[str, Field(max_length=32, description="'latest', 'best' or a version number")]
ModelName = Annotated[str, Field(min_length=1, max_length=64)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _exactly_one(model: BaseModel, *fields: str) -> None:
    given = [f for f in fields if getattr(model, f) is not None]
    if len(given) != 1:
        raise ValueError(f"give exactly one of {', '.join(fields)} (got {', '.join(given) or 'none'})")


class GenerateRequest(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"model": "fashion-cdcgan", "seeds": [1, 2, 3], "labels": ["Sneaker"]},
        {"model": "fashion-cdcgan", "n": 4, "labels": [7], "format": "json"},
    ]})

    model: ModelName
    version: Version = "latest"
    latents: Annotated[list[Latent], Field(min_length=1, max_length=MAX_IMAGES)] | None = None
    seeds: Annotated[list[Seed], Field(min_length=1, max_length=MAX_IMAGES)] | None = None
    n: Annotated[int, Field(ge=1, le=MAX_IMAGES)] | None = Field(None, description="draw n random seeds and report them")
    labels: Annotated[list[Label], Field(min_length=1, max_length=MAX_IMAGES)] | None = Field(
        None, description="one per image or one for all; class index or name; conditional models only")
    truncation: Annotated[float, Field(gt=0, le=2)] = 1.0
    format: Literal["png", "json"] = "png"

    @model_validator(mode="after")
    def _one_source(self) -> "GenerateRequest":
        _exactly_one(self, "latents", "seeds", "n")
        return self


    @property
    def count(self) -> int:
        return self.n or len(self.latents or self.seeds)


class SeedRequest(BaseModel):
    """A seed URL's path and query. Its route validates them in one call and `parameters` documents them:
    FastAPI spent about 6 microseconds of every request on each parameter declared to it, and this is the
    request a page makes by the hundred (docs/benchmarks.md, Engine)."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)  # other parameters (cache busters) pass
    PATH: ClassVar[tuple[str, ...]] = ("name", "seed")

    name: str
    seed: Seed
    label: str = Field("", max_length=200, description="class name or index; conditional models only")
    truncation: float = Field(1.0, gt=0, le=2)
    version: Version = "latest"

    @classmethod
    def from_request(cls, path: Mapping[str, str], query: Mapping[str, str]) -> "SeedRequest":
        """RequestValidationError, as FastAPI raises for parameters it validates, on a value out of bounds."""
        try:
            return cls.model_validate({**query, **path})
        except ValidationError as e:
            raise RequestValidationError([{**error, "loc": ("path" if error["loc"][0] in cls.PATH else "query",
                                                            *error["loc"])} for error in e.errors()]) from None

    @classmethod
    def parameters(cls) -> list[dict]:
        """The OpenAPI parameters of its route, which declares none to FastAPI."""
        properties = cls.model_json_schema()["properties"]
        return [{"name": name, "in": "path" if name in cls.PATH else "query", "required": name in cls.PATH,
                 "schema": field, **({"description": field["description"]} if "description" in field else {})}
                for name, field in properties.items()]


class Endpoint(Strict):
    seed: Seed | None = None
    latent: Latent | None = None
    label: Label | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "Endpoint":
        _exactly_one(self, "seed", "latent")
        return self


class InterpolateRequest(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"model": "fashion-cdcgan", "start": {"seed": 1, "label": "Sneaker"}, "end": {"seed": 2, "label": "Sandal"},
         "steps": 8, "method": "slerp", "format": "gif"}]})

    model: ModelName
    version: Version = "latest"
    start: Endpoint
    end: Endpoint
    steps: Annotated[int, Field(ge=2, le=MAX_IMAGES)] = 8
    method: WalkMethod | None = Field(None, description="default: the model's prior's own, slerp for normal latents "
                                      "and lerp for uniform ones (a uniform model's slerp is clipped to its cube)")
    truncation: Annotated[float, Field(gt=0, le=2)] = 1.0
    format: Literal["png", "gif", "webp", "json"] = "png"


class VisualizeRequest(Endpoint):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"model": "fashion-cdcgan", "seed": 7, "label": "Sneaker", "layer": "up1", "format": "json"}]})

    model: ModelName
    version: Version = "latest"
    layer: str | None = Field(None, max_length=64, description="a name from the answer's `layers`; default the "
                                                               "first")
    format: Literal["png", "json"] = "png"


class Term(Strict):
    weight: Annotated[float, Field(ge=-100, le=100)] = 1.0
    seeds: Annotated[list[Seed], Field(min_length=1, max_length=MAX_GROUP)] | None = None
    latents: Annotated[list[Latent], Field(min_length=1, max_length=MAX_GROUP)] | None = None
    label: Label | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "Term":
        _exactly_one(self, "seeds", "latents")
        return self


class ArithmeticRequest(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"model": "fashion-cdcgan", "terms": [
            {"weight": 1, "seeds": [1, 2, 3], "label": "Dress"},
            {"weight": -1, "seeds": [4, 5, 6], "label": "Dress"},
            {"weight": 1, "seeds": [7, 8, 9], "label": "Coat"}], "variations": 8}]})

    model: ModelName
    version: Version = "latest"
    terms: Annotated[list[Term], Field(min_length=1, max_length=MAX_TERMS)]
    label: Label | None = Field(None, description="class of the result; default: the last positive term's")
    variations: Annotated[int, Field(ge=0, le=MAX_VARIATIONS)] = 0
    variation_scale: Annotated[float, Field(ge=0, le=2)] = 0.25  # the paper's uniform noise of +-0.25
    seed: Seed = 0
    format: Literal["png", "json"] = "png"


class ImageOut(BaseModel):
    png_base64: str
    seed: int | None = None
    label: str | None = None
    latent: list[float] | None = None


class ImagesOut(BaseModel):
    model: str
    version: str
    images: list[ImageOut]


class LayerOut(BaseModel):
    name: str
    shape: list[int] = Field(description="[channels, height, width] of its activations")


class VisualizeOut(BaseModel):
    model: str
    version: str
    layer: str
    layers: list[LayerOut] = Field(description="every layer the generator offers, in forward order")
    channels: int = Field(description="the layer's channels")
    shown: int = Field(description="the first `shown` channels are drawn, row by row")
    scale: int = Field(description="each map enlarged this many times (nearest neighbour)")
    png_base64: str


class ImageShape(BaseModel):
    height: int
    width: int
    channels: int


class ModelSummary(BaseModel):
    name: str
    latest: str | None
    best: str | None = None
    versions: list[str]
    conditional: bool
    classes: list[str] | None
    latent_dim: int
    latent_distribution: Distribution = Field(description="the prior its latents come from: normal (N(0, I)) or "
                                                          "uniform (each value in [-1, 1])")
    image: ImageShape
    architecture: str
    truncates: bool = Field(description="whether truncation changes its images; false where the generator "
                                        "normalises each latent first (progan), which answers 422 to truncation")


class AliasIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"version": "000002"}]})

    version: str = Field(description="the version's number, e.g. 000002 or 2")


class ModelsOut(BaseModel):
    models: list[ModelSummary]


Side = Annotated[int, Field(ge=8, le=MAX_IMAGE_SIDE)]
# RQ's own rule for job ids; anything else could never name a job (and RQ raises on it)
JobId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,128}$", description="the id POST /train answered")]


class TrainRequest(TrainSpec):
    """A job spec within the service's limits on one job, plus where to run it; the queue stays with the API,
    the spec goes to the worker."""

    steps: Annotated[int, Field(ge=1, le=MAX_TRAIN_STEPS)] = TrainSpec.model_fields["steps"].default
    batch_size: Annotated[int, Field(ge=2, le=MAX_BATCH_SIZE)] = TrainSpec.model_fields["batch_size"].default
    image_size: Side | tuple[Side, Side] | None = Field(
        None, description=TrainSpec.model_fields["image_size"].description)

    queue: str | None = Field(None, max_length=64, description="queue to run on (e.g. 'gpu' or 'cpu'), one of "
                                                                "the API's GAN_QUEUES; default the first of them")

    def spec(self) -> TrainSpec:
        return TrainSpec.model_validate(self.model_dump(exclude={"queue"}))


class JobAccepted(BaseModel):
    id: str
    status: str
    status_url: str


class JobProgress(BaseModel):
    step: int
    total: int
    losses: dict[str, float] = {}
    scores: dict[str, float] = {}
    images_per_s: float | None = None
    eta_s: float | None = None


class JobOut(BaseModel):
    id: str
    kind: Literal["training", "evaluation", "dataset", "projection"] = "training"
    status: Literal["queued", "started", "finished", "failed", "canceled"]
    model: str | None
    progress: JobProgress | None
    versions: list[str]
    warnings: list[str] = []
    metrics: dict[str, dict] | None = None  # headline figures per published version (FD, KID, coverage...)
    best: str | None = None  # the version this job made `best`, if any
    error: str | None = None
    attempts: int = 0
    resumed_from_step: int | None = None  # a retried job continues from its last checkpoint
    enqueued_at: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    spec: dict | None = None
    queue: str | None = None
    worker: str | None = Field(None, description="the RQ worker that ran (or runs) the job")
    waiting: str | None = Field(None, description="why a started job has not begun training yet")
    owner: str | None = Field(None, description="id of the API key that submitted the job (a short hash of "
                                                "it); only that key or an admin key may cancel the job")


class JobsOut(BaseModel):
    jobs: list[JobOut]


class EvaluateRequest(Strict):
    n: Annotated[int, Field(ge=100, le=50_000)] = Field(
        10_000, description="generated samples; figures compare only at the same N")


# images per POST /models/{name}/features: 64 small PNGs fit the 1 MB body limit, base64 or not
FEATURES_MAX_IMAGES = 64
# images per POST /datasets: a Fashion-MNIST-sized set and more
DATASET_MAX_IMAGES = 100_000


class FeaturesRequest(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"version": "latest", "images": ["iVBORw0KGgo..."], "labels": ["Sneaker"]}]})

    version: Version = "latest"
    images: Annotated[list[Annotated[str, Field(max_length=200_000)]], Field(max_length=FEATURES_MAX_IMAGES)] = Field(
        description="base64 PNGs of the model's size and channels")
    labels: Annotated[list[Label], Field(min_length=1)] | None = Field(
        None, description="conditional models: one class name or index for all images, or one per image")


class FeaturesOut(BaseModel):
    model: str
    version: str
    shape: list[int] = Field(description="[images, features]")
    features: list[list[float]]


MAX_PROJECTION_STEPS = 1_000  # Adam steps on z; ~200 settle on Fashion-MNIST-sized models (docs/quality.md)
MAX_PROJECTION_SECONDS = 30.0  # of the inference process's time, on a thread beside the image batches


class ProjectRequest(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"model": "fashion-cdcgan", "image": "iVBORw0KGgo...", "label": "Sneaker", "steps": 200}]})

    model: ModelName
    version: Version = "latest"
    image: Annotated[str, Field(max_length=200_000, description="a base64 PNG of the model's size and channels "
                                                                "(multipart: the file field `image`)")]
    label: Label | None = Field(None, description="conditional models: the class to project under")
    steps: Annotated[int, Field(ge=1, le=MAX_PROJECTION_STEPS)] = 200
    seconds: Annotated[float, Field(gt=0, le=MAX_PROJECTION_SECONDS)] = 10.0


MAX_JOB_PROJECTION_STEPS = 20_000  # a projection job's bounds: hours of a worker at most
MAX_JOB_PROJECTION_SECONDS = 3_600.0


class ProjectionJobRequest(ProjectRequest):
    """A long projection, run as a job on the workers."""

    steps: Annotated[int, Field(ge=1, le=MAX_JOB_PROJECTION_STEPS)] = 2_000
    seconds: Annotated[float, Field(gt=0, le=MAX_JOB_PROJECTION_SECONDS)] = 600.0
    queue: str | None = Field(None, max_length=64, description="queue to run on, one of the API's GAN_QUEUES")


class ProjectOut(BaseModel):
    model: str
    version: str
    label: str | None
    latent: list[float] = Field(description="send it to /generate, /interpolate or /arithmetic as a latent")
    reconstruction_png_base64: str
    mse: float = Field(description="mean squared error of the reconstruction, pixels in [0, 1]")
    loss: str = Field(description="what the search minimised")
    steps: int
    seconds: float
    losses: list[dict[str, float]] = Field(description="the loss at every step: total, pixels, features")


class DatasetRequest(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"model": "fashion-cdcgan", "n": 60000, "format": "idx"},
        {"model": "fashion-cdcgan", "n": 1000, "classes": {"Sneaker": 0.5, "Bag": 0.5}, "truncation": 0.8,
         "first_seed": 1000000, "format": "png"}]})

    model: ModelName
    version: Version = "latest"
    n: Annotated[int, Field(ge=1, le=DATASET_MAX_IMAGES)] = Field(
        description="images; make several datasets with separate seed ranges (first_seed) for more")
    classes: (dict[Annotated[str, Field(max_length=200)], float] | Annotated[list[float], Field(max_length=1000)]
              | None) = Field(
        None, description="conditional models: weights by class name (others get none), or one weight per class "
                          "in the model's order; the dataset holds these proportions exactly. Default: uniform")
    truncation: Annotated[float, Field(gt=0, le=2)] = 1.0
    first_seed: Seed = Field(0, description="image i comes from seed first_seed + i, as its seed URL makes it")
    format: Format = Field("png", description="png: a folder of PNGs with labels.csv; idx: Fashion-MNIST's IDX "
                                              "files; both in a .tar.gz with manifest.json")
    queue: str | None = Field(None, max_length=64, description="queue to run on, one of the API's GAN_QUEUES; "
                                                                "default the first of them")


class DatasetOut(JobOut):
    request: dict | None = Field(None, description="what the job makes: model, pinned version, n, class "
                                                   "weights, truncation, first_seed, format")
    download_url: str | None = Field(None, description="the archive, once the job has finished and until it expires")
    expires_at: str | None = None
    bytes: int | None = None
    expired: bool = False


class ProjectionResult(BaseModel):
    latent: list[float]
    label: str | None
    reconstruction_png_base64: str
    mse: float
    loss: str
    steps: int
    seconds: float
    losses_every: int = Field(description="`losses` holds every this-many steps' loss")
    losses: list[dict[str, float]]


class ProjectionOut(JobOut):
    result: ProjectionResult | None = Field(None, description="once the job has finished")
