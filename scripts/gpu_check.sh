#!/usr/bin/env bash
# The checks only a CUDA GPU can run, within five minutes: the tests marked `cuda` (training a few steps and
# serving on the GPU), then a one-minute training and serving benchmark (bench/gpu.py), then a short report.
# Without a GPU it says so and exits 0. It needs a torch built for CUDA (the Dockerfile's TORCH_INDEX build):
# the CPU build pinned for development sees no GPU, and with a GPU present that is an error, not a pass.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
TESTS_S=${GPU_CHECK_TESTS_S:-170}  # the CUDA tests, collection of the suite included
BENCH_S=${GPU_CHECK_BENCH_S:-60}   # the benchmark's own measuring time; it gets 60 s more to start and load

probe=$("$PYTHON" -c 'import torch
print(torch.__version__, torch.version.cuda or "none", torch.cuda.is_available(), sep="|")') || {
    echo "gpu check: cannot import torch with $PYTHON (run scripts/setup.sh)" >&2; exit 1; }
IFS='|' read -r torch_version torch_cuda available <<<"$probe"
if [ "$available" != "True" ]; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        echo "gpu check: a GPU is present but torch $torch_version (CUDA: $torch_cuda) cannot use it;" \
             "install torch's CUDA build (see the Dockerfile's TORCH_INDEX)" >&2
        exit 1
    fi
    echo "gpu check: no CUDA GPU on this machine (torch $torch_version, CUDA: $torch_cuda); nothing to check"
    exit 0
fi

started=$(date +%s)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
timeout "$TESTS_S" "$PYTHON" -m pytest -m cuda -q -p no:cacheprovider tests >"$log" 2>&1
tests_rc=$?
tests_summary=$(tail -n 1 "$log")
[ $tests_rc -eq 0 ] || tail -n 40 "$log" >&2

bench=$(timeout $((BENCH_S + 60)) "$PYTHON" -m bench.gpu --seconds "$BENCH_S" 2>"$log")
bench_rc=$?
[ $bench_rc -eq 0 ] || tail -n 40 "$log" >&2

echo "gpu check ($(( $(date +%s) - started )) s, torch $torch_version, CUDA $torch_cuda)"
echo "  cuda tests: $([ $tests_rc -eq 0 ] && echo passed || echo "FAILED (exit $tests_rc)"): $tests_summary"
if [ $bench_rc -eq 0 ]; then
    "$PYTHON" - "$bench" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
t, s = r["training"], r["serving"]
print(f"  device: {r['device']}")
print(f"  training (64x64x3 DCGAN, batch 64): {t['steps_per_s']} steps/s, {t['images_per_s']} images/s "
      f"over {t['seconds']} s")
print(f"  serving ({s['precision']}{', graph' if s['graph'] else ''}): "
      + ", ".join(f"batch {b}: {n} images/s" for b, n in s["images_per_s"].items()))
PY
else
    echo "  benchmark: FAILED (exit $bench_rc)"
fi
[ $tests_rc -eq 0 ] && [ $bench_rc -eq 0 ]
