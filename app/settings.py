"""Service configuration from `GAN_` environment variables, read once through get_settings()."""

from __future__ import annotations

from functools import lru_cache
from typing import Mapping

from pydantic import SecretStr, field_validator

from config.settings import CommonSettings

PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # models.devices.PRECISIONS; kept here so settings import no torch

# settings no child process needs and no log or command line may show
SECRET_SETTINGS = {"api_keys"}


def without_secrets(environment: Mapping[str, str]) -> dict[str, str]:
    """A child's environment: the parent's, less the variables that hold secrets."""
    secret = {f"GAN_{name.upper()}" for name in SECRET_SETTINGS}
    return {k: v for k, v in environment.items() if k.upper() not in secret}


class Settings(CommonSettings):
    inference_precision: str = "auto"  # auto (bf16/fp16 where the probe finds it faithful), fp32, bf16, fp16
    version_notifications: bool = True  # subscribe to workers' pub/sub notices for prompt hot swaps
    # forward passes and single-image PNGs in an inference process of their own (app/process_engine.py), so
    # the event loop never waits for Python's lock; false: on an inference thread of the API process
    inference_process: bool = True
    batching: bool = True  # micro-batch concurrent generation requests for the same version
    # images per shared forward pass: past 16 a forward gained little on CPU (1-8%), and with as many clients
    # as the limit one batch took them all, so the inference thread idled while they were encoded and answered;
    # at 16 two batches alternate (64x64x3, 32 clients: 1.13x the images/s side by side, docs/benchmarks.md)
    batch_max_images: int = 16
    # young objects allocated before CPython's first garbage collection; 0 keeps CPython's 700 (docs/benchmarks.md)
    gc_threshold: int = 50_000
    # FastAPI's built-in OpenTelemetry (spans, metrics, logs to the configured providers; OTLP from the
    # environment with FASTAPI_OTEL_AUTO_CONFIGURE=true). Off by default: /metrics is Prometheus, and checking
    # for providers on every request cost 3-5% of the event loop's time
    otel: bool = False
    # how long a thread may hold Python's lock while another waits for it; CPython's 5 ms made the inference
    # thread wait that long for the busy event loop at each point it needs the lock back, and with batches
    # gathered on the loop 0.1 ms served the shipped model 1.05-1.08x 0.5 ms's images/s (docs/benchmarks.md)
    switch_interval_ms: float = 0.1
    model_precision: str = ""  # per-model overrides, comma-separated model=precision
    precision_tolerance: int = 4  # largest per-pixel drift from fp32 (levels of 255) a lower precision may have
    channels_last: bool = True
    # run each generator as a traced TorchScript graph where it gives eager's bytes (app/graphs.py)
    inference_graph: bool = True
    seed_cache_mb: float = 32.0  # encoded seed-URL PNGs kept in memory
    cache_size: int = 3  # generators kept loaded (LRU over model-version pairs)
    watch_interval_s: float = 1.0  # registry poll period for hot swaps
    cors_origins: str = "*"  # comma-separated; empty disables CORS
    events_poll_s: float = 0.5  # how often GET /train/{id}/events reads the job's progress

    max_images: int = 64  # per /generate request, and frames per /interpolate
    max_interpolation_steps: int = 64
    max_arithmetic_terms: int = 8
    max_group_size: int = 16  # seeds or latents per arithmetic term
    max_variations: int = 32
    max_train_steps: int = 200_000
    max_batch_size: int = 512
    max_image_side: int = 256
    job_timeout_s: int = 7 * 24 * 3600  # RQ's default of 180 s would kill training
    job_retries: int = 2  # a job whose worker dies is retried and resumes from its last checkpoint
    # security and abuse limits: see app/security.py and app/body_limit.py
    # comma-separated bearer tokens; when set, mutating endpoints require one. A SecretStr: never in a repr
    api_keys: SecretStr = SecretStr("")
    protect_generation: bool = False  # also require a key for generation and exploration endpoints
    rate_limit_per_minute: float = 0.0  # per client address on expensive endpoints; 0 disables
    rate_limit_burst: int = 10  # requests a client may make at once before the rate applies
    max_body_bytes: int = 1_000_000  # larger request bodies are refused with 413

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @field_validator("inference_precision")
    @classmethod
    def _known_precision(cls, value: str) -> str:
        if value not in PRECISIONS:
            raise ValueError(f"unknown precision {value!r}; valid: {', '.join(PRECISIONS)}")
        return value

    @field_validator("model_precision")
    @classmethod
    def _known_model_precisions(cls, value: str) -> str:
        for item in filter(None, (i.strip() for i in value.split(","))):
            name, _, precision = item.partition("=")
            if not name.strip() or precision.strip() not in PRECISIONS:
                raise ValueError(f"{item!r}: write model=precision with precision one of {', '.join(PRECISIONS)}")
        return value

    def precision_for(self, model: str) -> str:
        for item in self.model_precision.split(","):
            name, _, value = item.partition("=")
            if name.strip() == model and value.strip():
                return value.strip()
        return self.inference_precision

    @property
    def api_key_list(self) -> list[str]:
        return [k.strip() for k in self.api_keys.get_secret_value().split(",") if k.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()
