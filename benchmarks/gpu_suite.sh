#!/usr/bin/env bash
# The CUDA checks and the GPU figures of BENCHMARKS.md, in one go on a one-GPU machine:
#   1. timings alone on the GPU: DP DCGAN discriminator steps/s and DP classifier samples/s per
#      grad-sample mode vs non-private;
#   2. side by side: the whole test suite with device auto (= CUDA), the memorization contrast on
#      128 Fashion-MNIST images (non-private, eps 10, eps 1) and longer conditional DP GANs on the
#      full Fashion-MNIST (downstream accuracy).
# Each job has its own time limit, so what finished comes back even when one is slow.
#
#   benchmarks/gpu_suite.sh OUTDIR [FEATURES_RUN]
# FEATURES_RUN: the Fashion-MNIST classifier whose features the FIDs use
# (default benchmarks/runs/fmnist-features, see BENCHMARKS.md).
set -u
OUT=${1:?usage: benchmarks/gpu_suite.sh OUTDIR [FEATURES_RUN]}
FEATURES=${2:-benchmarks/runs/fmnist-features}
RUNS=$OUT/runs
LOGS=$OUT/logs
mkdir -p "$OUT" "$RUNS" "$LOGS"
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
started=$(date +%s)
stamp() { echo "[$(( $(date +%s) - started )) s] $*" | tee -a "$OUT/suite.log"; }

stamp "start"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python -c "import torch, opacus; print('torch', torch.__version__, 'cuda', torch.version.cuda,
torch.cuda.get_device_name(), 'opacus', opacus.__version__)"; nproc; } > "$OUT/machine.txt" 2>&1

# 1. timings, alone on the GPU
timeout 60 python benchmarks/gan_throughput.py --device cuda --rounds 5 --steps 20 \
  > "$OUT/throughput.txt" 2>&1
stamp "gan throughput B128 rc=$?"
timeout 60 python benchmarks/gan_throughput.py --device cuda --rounds 5 --steps 20 \
  --batch-size 512 --d-width 64 --g-width 64 >> "$OUT/throughput.txt" 2>&1
stamp "gan throughput B512 w64 rc=$?"
timeout 90 python benchmarks/classifier_throughput.py --device cuda --steps 50 \
  >> "$OUT/throughput.txt" 2>&1
stamp "classifier throughput rc=$?"

# 2. side by side
job() {  # job NAME SECONDS COMMAND...: run in the background, log to OUT/logs/NAME.txt
  local name=$1 limit=$2; shift 2
  ( timeout "$limit" "$@" > "$LOGS/$name.txt" 2>&1; stamp "$name rc=$?" ) &
}
job pytest-cuda 300 python -m pytest -q -n 4 -p no:cacheprovider
for s in non-private eps10 eps1; do
  job "mem-$s" 300 python benchmarks/gan_memorization.py --setting "$s" --subset 128 \
    --epochs 6000 --save-every 1000 --runs "$RUNS" --device cuda
done
job fm-e10-e30 300 python benchmarks/gan_downstream.py --epsilon 10 --epochs 30 \
  --schedule adaptive --features "classifier:$FEATURES" --device cuda --out "$RUNS/fm-e10-e30"
job fm-e10-b512 300 python benchmarks/gan_downstream.py --epsilon 10 --epochs 40 \
  --batch-size 512 --schedule adaptive --features "classifier:$FEATURES" --device cuda \
  --out "$RUNS/fm-e10-b512"
wait
python benchmarks/gan_memorization.py --table --subset 128 --epochs 6000 --runs "$RUNS" \
  --figures "$OUT/figures" > "$OUT/memorization-table.md" 2>&1
stamp "done"
tail -n 30 "$LOGS/pytest-cuda.txt" > "$OUT/pytest-cuda-tail.txt"
# the runs without their checkpoints (weights and optimizer states: large, and secret)
tar -czf "$OUT/runs.tar.gz" --exclude=checkpoint.pt -C "$OUT" runs figures logs 2>/dev/null
rm -rf "$RUNS" "$OUT/figures" "$LOGS"
