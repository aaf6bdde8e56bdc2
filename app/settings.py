"""API configuration: the common settings plus the API's own, read once through get_settings()."""

from __future__ import annotations

from functools import lru_cache
from typing import Mapping

from limits import parse_many
from pydantic import SecretStr, field_validator

from config.settings import CommonSettings

PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # models.devices.PRECISIONS; kept here so settings import no torch

# settings no child process needs and no log or command line may show
SECRET_SETTINGS = {"api_keys", "admin_keys"}


def without_secrets(environment: Mapping[str, str]) -> dict[str, str]:
    """A child's environment: the parent's, less the variables that hold secrets."""
    secret = {f"GAN_{name.upper()}" for name in SECRET_SETTINGS}
    return {k: v for k, v in environment.items() if k.upper() not in secret}


class Settings(CommonSettings):
    # a precision for every model, then model=precision exceptions: "auto" or e.g. "auto,fashion-cdcgan=fp32";
    # auto is bf16 (fp16 on older GPUs) where the load-time probe finds it faithful, else fp32
    inference_precision: str = "auto"
    # images per shared forward pass: past 16 a CPU forward gains little per image, and 32 clients then fill
    # two batches that alternate (docs/benchmarks.md); raise it on a GPU
    batch_max_images: int = 16
    cache_size: int = 3  # versions kept loaded (LRU over model-version pairs)
    # how often the registry is polled for new versions; the workers' notices swap at once, this is the fallback
    watch_interval_s: float = 1.0
    cors_origins: str = "*"  # comma-separated; empty disables CORS
    # FastAPI's built-in OpenTelemetry (spans, metrics, logs to the configured providers; OTLP from the
    # environment with FASTAPI_OTEL_AUTO_CONFIGURE=true). Off by default: /metrics is Prometheus, and checking
    # for providers on every request cost 3-5% of the event loop's time
    otel: bool = False
    job_timeout_s: int = 7 * 24 * 3600  # RQ's default of 180 s would kill training
    job_retries: int = 2  # a job whose worker dies is retried and resumes from its last checkpoint
    dataset_ttl_s: int = 24 * 3600  # how long a dataset's archive is kept once made
    # security and abuse limits: see app/security.py
    # comma-separated bearer tokens; when set, mutating endpoints require one. A SecretStr: never in a repr
    api_keys: SecretStr = SecretStr("")
    # comma-separated keys that may also cancel any job, not only those they submitted (app/security.py)
    admin_keys: SecretStr = SecretStr("")
    protect_generation: bool = False  # also require a key for generation and exploration endpoints
    # per client address on the endpoints that generate or enqueue work, in the `limits` notation, e.g.
    # "60/minute" or "10/second;100/minute"; counted in Redis across replicas; empty: none
    rate_limit: str = ""

    @field_validator("rate_limit")
    @classmethod
    def _known_rate_limit(cls, value: str) -> str:
        if value.strip():
            try:
                parse_many(value)
            except ValueError:
                raise ValueError(f"{value!r}: write limits as N/second, N/minute, N/hour or N/day, separated by "
                                 "';', e.g. 60/minute or 10/second;100/minute") from None
        return value

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @field_validator("inference_precision")
    @classmethod
    def _known_precisions(cls, value: str) -> str:
        for item in filter(None, (i.strip() for i in value.split(","))):
            name, _, precision = item.rpartition("=")
            if precision.strip() not in PRECISIONS or ("=" in item and not name.strip()):
                raise ValueError(f"{item!r}: give a precision ({', '.join(PRECISIONS)}) for every model, then "
                                 "model=precision for exceptions, e.g. auto,fashion-cdcgan=fp32")
        return value

    def precision_for(self, model: str) -> str:
        default = "auto"
        for item in filter(None, (i.strip() for i in self.inference_precision.split(","))):
            name, _, precision = item.rpartition("=")
            if not name:
                default = precision.strip()
            elif name.strip() == model:
                return precision.strip()
        return default

    @property
    def api_key_list(self) -> list[str]:
        return _split_keys(self.api_keys)

    @property
    def admin_key_list(self) -> list[str]:
        return _split_keys(self.admin_keys)


def _split_keys(keys: SecretStr) -> list[str]:
    return [k.strip() for k in keys.get_secret_value().split(",") if k.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()
