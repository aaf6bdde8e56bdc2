"""`python -m worker`: an RQ worker on the configured Redis URL and queues.

The parent process imports no torch: each job runs in RQ's forked work horse, which imports the trainer.
"""

from __future__ import annotations

import logging
import subprocess
import sys

from rq import Queue

from models.logs import configure_logging
from worker.outages import patient_connection
from worker.recovery import TrainingWorker
from worker.settings import get_settings


def device_problem(setting: str) -> str | None:
    """Why GAN_DEVICE cannot work here, or None. Checked in a child process: this one must not initialise
    CUDA (or even import torch) before it forks work horses."""
    if setting in ("auto", "cpu"):
        return None
    check = subprocess.run([sys.executable, "-m", "models.devices", setting], capture_output=True, text=True)
    return check.stderr.strip().splitlines()[-1] if check.returncode else None


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    problem = device_problem(settings.device)
    if problem:
        logging.getLogger("worker").error("GAN_DEVICE: %s", problem)
        return 2
    removed = settings.registry().clean_debris()
    if removed:
        logging.getLogger("worker").info("removed %d half-written versions left by a dead worker", len(removed))
    connection = patient_connection(settings.redis_url)  # the worker outlives Redis outages of any length
    queues = [Queue(name, connection=connection) for name in settings.queue_names]
    worker = TrainingWorker(queues, connection, heartbeat_interval_s=settings.heartbeat_interval_s)
    worker.work(with_scheduler=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
