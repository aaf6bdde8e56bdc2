"""The RQ worker: takes training jobs from Redis, trains them, publishes checkpoints into the registry."""
