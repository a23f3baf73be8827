#!/usr/bin/env bash
# GPU check for the inference fast paths: CUDA tests, then `retinaface bench` on CUDA (JSON into $OUT).
# Run from the repository root on a CUDA machine whose python3 has torch, numpy, opencv and onnx, e.g.
#   device tool: run(command="bash bench/gpu_check.sh", carry=[".shared/models/mobilenet0.25_Final.pth",
#                                                              ".shared/images/selfie.jpg"], timeout_s=560)
# where .shared is an ignored symlink to the shared data folder (RETINAFACE_SHARED points there).
set -u
OUT=${OUT:-bench/results}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export RETINAFACE_SHARED=${RETINAFACE_SHARED:-$PWD/.shared}
PY=${PYTHON:-python3}
nvidia-smi -L
$PY -c "import torch, cv2; print('torch', torch.__version__, 'cv2', cv2.__version__, torch.cuda.get_device_name(0))"
timeout 150 $PY -m pytest -q -p no:cacheprovider test/test_fast_paths.py -k "cuda or batch or nms" 2>&1 \
  | tee "$OUT/gpu_pytest.log" | tail -25
timeout ${BENCH_TIMEOUT:-330} $PY -m retinaface_ros bench --devices cuda --batches 1,8,32 \
  --runs ${RUNS:-30} --warmup 5 --levers --out "$OUT/gpu_bench.json" >/dev/null 2>"$OUT/gpu_bench.log"
echo "bench exit $?"
grep "^#" "$OUT/gpu_bench.log"
grep -v "^#" "$OUT/gpu_bench.log" | tail -20
