#!/usr/bin/env bash
# The GPU checks of #3 (torch: overhead and syncs per step on CUDA) and #5 (JAX on a GPU), as one
# prepared call of the device tool, for a session that is lent a machine (about 5 minutes):
#
#     run(command="bash benchmarks/device_checks.sh", timeout_s=540)   # then give_back
#
# The machine's own image has torch and JAX with CUDA; the tracker runs from this tree (its core
# and hooks need nothing else there). Outputs come back under $OUT.
set -o pipefail
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1
OUT="${OUT:-/tmp/device-checks}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
python3 -c "import torch, jax; print('torch', torch.__version__, 'jax', jax.__version__)" | tee -a "$OUT/gpu.txt"
timeout 240 python3 benchmarks/bench_torch_hooks.py --device cuda --blocks 10 2>&1 | tee "$OUT/torch_cuda.txt"
timeout 240 python3 benchmarks/bench_jax_hooks.py --device gpu --steps 3000 --reps 5 2>&1 | tee "$OUT/jax_gpu.txt"
