"""The serving engine: versions loaded, probed and prepared once; requests batched; forwards run and images
encoded in an inference process beside the API.

In the API process, `catalog.Catalog` knows the versions (latest and best, invalid ones, hot swaps, and each
loaded version's metadata with the probes' choices) and `engine.Engine` gathers requests into batches on the
event loop and exchanges them with the inference process (`process.py`) over a socket pair (`frames.py`). Where
forwards run, in that process or in-process for the CLI and tests, `runner.Runner` loads and prepares versions
(`prepare.py`, `graphs.py`) and renders jobs (`job.py`) into their answers (`encoding.py`). `inputs.py` checks
what a request asks for against the version.
"""

from app.errors import InvalidRequest
from app.serving.encoding import MEDIA, base64_pngs
from app.serving.inputs import checked_latents, label_indices, random_seeds
from app.serving.job import Job
from app.serving.runner import Loaded, Runner

__all__ = ["MEDIA", "InvalidRequest", "Job", "Loaded", "Runner", "base64_pngs", "checked_latents", "label_indices",
           "random_seeds"]
