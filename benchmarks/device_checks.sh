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
# #18: the system sampler on the real NVML, a few seconds: the sys/gpu* series it got, then its
# CPU cost with GPUs. It needs psutil and nvidia-ml-py in the machine's Python; the machine
# cannot reach PyPI, so if they are missing, download the wheels here first and they travel
# with the tree: pip download psutil nvidia-ml-py -d .device-wheels
python3 -c "import psutil, pynvml" 2>/dev/null \
  || python3 -m pip install -q --no-index --find-links .device-wheels psutil nvidia-ml-py 2>&1 | tail -2
timeout 60 python3 benchmarks/bench_system_sampler.py --live 5 2>&1 | tee "$OUT/system_sampler.txt"
timeout 120 python3 benchmarks/bench_system_sampler.py --repeat 3 --samples 100 2>&1 | tee -a "$OUT/system_sampler.txt"
