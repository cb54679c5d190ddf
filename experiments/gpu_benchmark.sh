#!/usr/bin/env bash
# The benchmark on an accelerator machine, in one go (about 8 minutes at most): prints the versions it
# finds, then runs experiments/benchmark.py --gpu --all (jaxconv vs raw lax on JAX's default backend,
# torch on CUDA where torch sees a GPU, else torch CPU; the whole-network rows included).
#
#   bash experiments/gpu_benchmark.sh            # on the GPU machine: table on stdout, JSON + table in $OUT
#   bash experiments/gpu_benchmark.sh --quick    # dry run (also on a CPU-only machine): the reduced set
#
# Extra arguments go to benchmark.py (e.g. -k conv). LIMIT (seconds, default 450) bounds the benchmark
# itself; OUT (default: a fresh temporary directory) receives gpu_benchmark.json and gpu_benchmark.md.
set -u
cd "$(dirname "$0")/.."
if [ -z "${VIRTUAL_ENV:-}" ] && [ -f .venv/bin/activate ]; then
    . .venv/bin/activate
fi
OUT=${OUT:-$(mktemp -d)}
LIMIT=${LIMIT:-450}
mkdir -p "$OUT"

echo "== versions"
if command -v nvidia-smi > /dev/null 2>&1; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
else
    echo "nvidia-smi: not found"
fi
python - <<'PY'
import platform
import sys

print(f"python {platform.python_version()} on {platform.platform()}")
try:
    import jax
    import jaxlib

    print(f"jax {jax.__version__}, jaxlib {jaxlib.__version__}, default backend {jax.default_backend()}, "
          f"devices {[str(d) for d in jax.devices()]}")
    if jax.default_backend() == "cpu":
        print("note: JAX runs on CPU here (no GPU, or a CPU-only jaxlib: pip install 'jax[cuda12]' where a registry "
              "is reachable); the table below is then a CPU run")
except Exception as e:  # noqa: BLE001 - report and go on
    print(f"jax: {type(e).__name__}: {e}")
    sys.exit(1)
try:
    import torch

    cuda = torch.cuda.is_available()
    print(f"torch {torch.__version__}, CUDA available: {cuda}"
          + (f" ({torch.cuda.get_device_name(0)}, CUDA {torch.version.cuda})" if cuda else " (torch column on CPU)"))
except ImportError:
    print("torch: not installed (torch column n/a)")
try:
    import flax

    print(f"flax {flax.__version__}")
except ImportError:
    print("flax: not installed")
PY

echo "== benchmark (limit ${LIMIT} s; output in $OUT)"
timeout "$LIMIT" python experiments/benchmark.py --gpu --all --budget 0.5 --json "$OUT/gpu_benchmark.json" "$@" \
    | tee "$OUT/gpu_benchmark.md"
rc=${PIPESTATUS[0]}
if [ "$rc" = 124 ]; then
    echo "benchmark stopped at the ${LIMIT} s limit: rerun with -k to split it"
fi
exit "$rc"
