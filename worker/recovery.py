"""RQ's Worker, adjusted so that a job survives the death of either of the worker's two processes.

RQ runs each job in a forked work horse watched by the worker's parent process:
- Horse killed (OOM killer, SIGKILL): the parent sees it in waitpid and calls handle_job_failure, which
  retries the job while it has retries left. But the parent's copy of the job was read when it was
  dequeued, and the retry saves that copy whole, meta included: what the horse recorded (versions,
  attempts) would be wiped. We re-read the meta first.
- Parent killed: the horse is in its own process group and would train on, orphaned, with nobody keeping
  the job's heartbeat; once the heartbeat expired another worker's maintenance would retry the job while the
  orphan still ran. So the horse asks the kernel to kill it with its parent (PR_SET_PDEATHSIG), and the job,
  left STARTED with an expiring heartbeat, is found by StartedJobRegistry.cleanup on any worker's next
  maintenance pass and retried (AbandonedJobError). RQ's fixed grace of 60 s on the heartbeat follows the
  worker's heartbeat interval here, and an idle worker wakes up for maintenance at that interval rather than
  after a 405 s blocking dequeue.
Either way the retried job resumes from the last version it published (worker.jobs).
"""

from __future__ import annotations

import logging
import os

from redis import Redis
from rq import Worker
from rq.job import Job
from rq.queue import Queue

from models.processes import die_with_parent

log = logging.getLogger(__name__)

class TrainingWorker(Worker):
    def __init__(self, queues: list[Queue], connection: Redis, heartbeat_interval_s: int = 30):
        # one interval for the heartbeat and the search for abandoned jobs (the grace: get_heartbeat_ttl)
        super().__init__(queues, connection=connection, job_monitoring_interval=heartbeat_interval_s,
                         maintenance_interval=heartbeat_interval_s)
        self.parent_pid = os.getpid()  # read by the forked horse, to notice a parent that died before it asked

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        # RQ adds a fixed 60 s to the monitoring interval; here two intervals, so that a heartbeat late by a
        # whole interval (a long checkpoint write, a Redis hiccup) is not taken for death
        interval = self.job_monitoring_interval
        if job.timeout and job.timeout > 0:
            interval = min(job.timeout - working_time, interval)
        return int(interval) + 2 * self.job_monitoring_interval

    @property
    def dequeue_timeout(self) -> int:
        # an idle worker blocks this long waiting for a job before its next maintenance pass; RQ's own
        # (worker TTL - 15 s, 405 s by default) would leave an abandoned job unnoticed for minutes
        return max(1, min(self.worker_ttl - 15, self.maintenance_interval))

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        if not die_with_parent(self.parent_pid):
            log.warning("cannot tie the work horse to its parent: a killed worker leaves it running")
        super().main_work_horse(job, queue)

    def handle_job_failure(self, job: Job, queue: Queue, started_job_registry=None, exc_string="",
                           execution=None):
        try:
            job.meta = job.get_meta(refresh=True)  # the horse's record, not the copy from dequeue time
        except Exception:  # a failure must still be handled when Redis hiccups
            log.warning("could not refresh the meta of job %s before handling its failure", job.id)
        super().handle_job_failure(job, queue, started_job_registry=started_job_registry,
                                   exc_string=exc_string, execution=execution)
