"""Cancelling a running training job: the API sets this Redis key and the job's loop polls it."""

CANCEL_KEY = "gan:cancel:{job_id}"


def cancel_key(job_id: str) -> str:
    return CANCEL_KEY.format(job_id=job_id)
