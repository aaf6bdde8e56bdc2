#!/usr/bin/env bash
# Installs everything, then runs the whole stack on this machine: Redis (if none is running),
# one worker and the API on 127.0.0.1:8000, serving the shipped default generator. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

export GAN_REDIS_URL=${GAN_REDIS_URL:-redis://127.0.0.1:6379/0}
host_port=${GAN_REDIS_URL#redis://}; host_port=${host_port%%/*}
redis_host=${host_port%%:*}; redis_port=${host_port##*:}
mkdir -p var/log var/redis
if ! redis-cli -h "$redis_host" -p "$redis_port" ping >/dev/null 2>&1; then
    echo "starting redis-server on $redis_host:$redis_port (queue kept in var/redis)" >&2
    # an append-only file fsynced once a second: jobs survive a restart of Redis (docs/reliability.md)
    redis-server --daemonize yes --bind "$redis_host" --port "$redis_port" --save "" \
        --appendonly yes --appendfsync everysec --dir "$PWD/var/redis" --logfile "$PWD/var/log/redis.log"
fi

# the worker keeps OpenMP's default wait policy: its threads spin briefly between a step's many small
# operations, which trains 1.3-1.5x faster than passive waits, alone or beside serving, while single-image
# requests stay within 1.2-1.8x of their idle latency (docs/benchmarks.md, serving beside training)
.venv/bin/python -m worker >>var/log/worker.log 2>&1 &
worker_pid=$!
api_pid=
# a TERM from a process manager stops the whole stack, as Ctrl-C does: the API runs in the background and the
# script waits for it, since bash runs no trap while a foreground command runs
trap 'kill $worker_pid $api_pid 2>/dev/null; wait 2>/dev/null' EXIT INT TERM
echo "worker running (pid $worker_pid, log var/log/worker.log); API on http://127.0.0.1:${PORT:-8000}" >&2
# the API runs its forward passes in its inference process on all cores but one (GAN_TORCH_THREADS=0), keeping
# a core for HTTP; passive waits keep the API's idle OpenMP threads from spinning against the worker's (the
# inference process waits passively unless told otherwise)
OMP_WAIT_POLICY=PASSIVE .venv/bin/uvicorn app.main:app --host 127.0.0.1 --port "${PORT:-8000}" &
api_pid=$!
wait $api_pid
