#!/usr/bin/env bash
# The one-GPU check, in at most 8 minutes: TCL's throughput table first (PreAct ResNet-18, 32 x 32, batch 256
# and 1,024, eager and compiled, with a sync-free check), every method one epoch on CUDA, kill -9 and resume,
# and the training paths (--compile, a streamed PNG folder, predict with the exported model, --precision fp32,
# TCL's --recipe paper for 3 epochs, --nproc 2 and a resume on fewer GPUs where two
# are visible). Exit status 1 when any row failed, 124 when the time limit cut it off. Run from the
# repository root on the GPU machine:
#   bash benchmarks/gpu_check.sh [FASHION_MNIST_DIR] [OUT_DIR]
# FASHION_MNIST_DIR holds the four idx .gz files (copy /usr/share/datasets/fashion-mnist into an
# ignored folder and carry it; 30 MB); without it the methods run on synthetic CIFAR-shaped arrays.
# The report goes to stdout and OUT_DIR/gpu_check.md. CPU dry run: DEVICE=cpu QUICK=1 bash ...
set -uo pipefail
cd "$(dirname "$0")/.."
data="${1:-}"
out="${2:-${OUT:-/tmp/gpu_check}}"
mkdir -p "$out"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
missing=$(python - <<'PY'
import importlib.util as u
print(" ".join(m for m in ("torch", "numpy", "sklearn", "PIL", "matplotlib", "yaml", "tqdm") if u.find_spec(m) is None))
PY
)
if [ -n "$missing" ]; then
  echo "gpu_check: missing Python packages: $missing (carry their wheels and pip install them first)" >&2
  exit 2
fi
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '')"
args=(--device "${DEVICE:-cuda}" --out "$out/runs")
[ -n "$data" ] && args+=(--data-dir "$data")
[ -n "${QUICK:-}" ] && args+=(--quick)
[ -n "${PARTS:-}" ] && args+=(--parts "$PARTS")
timeout "${LIMIT_S:-470}" python benchmarks/gpu_check.py "${args[@]}" 2>&1 | tee "$out/gpu_check.md"
