#!/usr/bin/env bash
# GPU check for the inference fast paths, one run of ≤ 450 s (stages share DEADLINE=400 s): versions, the CUDA
# tests, `retinaface bench` on CUDA (JSON into $OUT/gpu_bench.json) and a summary table; with EXPERIMENTS=1
# also the experiments that chose the CUDA defaults (bench/gpu_experiments.py → $OUT/gpu_experiments.json).
# Shorter runs: LEVERS= (no lever rows), MATRIX_BACKBONES=resnet, RUNS=20, DEADLINE=300.
# Run from the repository root on a CUDA machine whose python3 has torch, numpy, opencv and onnx, e.g.
#   device tool: run(command="bash bench/gpu_check.sh", carry=[".shared/models/mobilenet0.25_Final.pth",
#                                                              ".shared/images/selfie.jpg"], timeout_s=480)
# where .shared is an ignored symlink to the shared data folder (RETINAFACE_SHARED points there).
# Every stage has its own hard timeout and a failing stage does not stop the next.
set -u
OUT=${OUT:-bench/results}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export RETINAFACE_SHARED=${RETINAFACE_SHARED:-$PWD/.shared}
PY=${PYTHON:-python3}
RUNS=${RUNS:-30}
DEADLINE=${DEADLINE:-400}  # seconds for the whole script; each stage gets min(its own limit, what is left)
stage() { echo; echo "=== [$SECONDS s] $*"; }
limit() { local left=$((DEADLINE - SECONDS)); [ "$left" -lt "$1" ] && echo "$left" || echo "$1"; }
run_for() {  # run_for SECONDS command...: skipped when under 10 s are left
  local t; t=$(limit "$1"); shift
  if [ "$t" -lt 10 ]; then echo "skipped: $t s left of the ${DEADLINE} s deadline"; return 124; fi
  timeout "$t" "$@"
}

stage "(a) machine"
timeout 10 nvidia-smi -L || echo "nvidia-smi failed ($?)"
timeout 30 $PY -c "
import torch, cv2, numpy, sys
print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda,
      'cudnn', torch.backends.cudnn.version(), 'cv2', cv2.__version__, 'numpy', numpy.__version__)
print('gpu', torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
try:
    import triton; print('triton', triton.__version__)
except Exception as e: print('triton missing', e)
import retinaface_ros.inference.detector, retinaface_ros.commands.bench; print('imports ok')
" || echo "version check failed ($?)"

stage "(b) CUDA tests (test/test_fast_paths.py, test/test_staging.py: -k cuda)"
run_for 120 $PY -m pytest -q -p no:cacheprovider -rfEs test/test_fast_paths.py test/test_staging.py -k cuda \
  >"$OUT/gpu_pytest.log" 2>&1
echo "pytest exit $?"
grep -E "^(FAILED|ERROR)|passed|failed|error" "$OUT/gpu_pytest.log" | tail -15
grep -B2 -A12 "^E   " "$OUT/gpu_pytest.log" | head -60

stage "(c) bench: mnet 640x480 b1/8/32/64 fp32, fp16, fp16 + torch.compile, and the levers at b1"
run_for 150 $PY -m retinaface_ros bench --devices cuda --backbones mnet --inputs 640x480 --batches 1,8,32,64 \
  --runtimes torch,torch-fp16,torch-fp16-compile --runs "$RUNS" --warmup 5 ${LEVERS---levers} --out "$OUT/gpu_bench_mnet.json" \
  >/dev/null 2>"$OUT/gpu_bench_mnet.log"
echo "bench mnet exit $?"
grep "^#" "$OUT/gpu_bench_mnet.log"; grep -v "^#" "$OUT/gpu_bench_mnet.log" | tail -8
if [ "${EXPERIMENTS:-0}" = 1 ]; then
stage "(c) experiments: where the batch-1 time goes, torch.compile, cuDNN fusions, staging (→ $OUT/gpu_experiments.json)"
run_for 150 $PY bench/gpu_experiments.py "$OUT/gpu_experiments.json" 120 2>"$OUT/gpu_experiments.log"
echo "experiments exit $?"
grep -v "^W[0-9]" "$OUT/gpu_experiments.log" | grep -E "Error|error" | tail -5
fi
stage "(c) bench: the rest of the issue's matrix, R50 first: resnet,mnet × 1280x720 (→ 1820x1024),640x480 × b1,8"
run_for 150 $PY -m retinaface_ros bench --devices cuda --backbones "${MATRIX_BACKBONES:-resnet,mnet}" --inputs 1280x720,640x480 \
  --batches 1,8 --runtimes torch-fp16,torch-fp16-compile,torch-fp16-unfused,torch --runs "$RUNS" --warmup 5 --out "$OUT/gpu_bench_matrix.json" \
  >/dev/null 2>"$OUT/gpu_bench_matrix.log"
echo "bench matrix exit $? (124 = timed out; the rows done so far are kept)"
grep "^#" "$OUT/gpu_bench_matrix.log"; grep -v "^#" "$OUT/gpu_bench_matrix.log" | tail -8

stage "(d) summary → $OUT/gpu_bench.json"
timeout 20 $PY - "$OUT" <<'EOF' || echo "summary failed ($?)"
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
merged, rows, levers = None, [], []
key = lambda r: (r["backbone"], r["input"], r["batch"], r["runtime"])
for name in ("gpu_bench_mnet.json", "gpu_bench_matrix.json"):
    path = out / name
    if not path.exists():
        print("missing", path); continue
    report = json.loads(path.read_text())
    merged = merged or report
    rows += [r for r in report["rows"] if key(r) not in {key(x) for x in rows}]  # mnet 640x480 b1/8 twice
    levers += report.get("levers", [])
if merged is None:
    sys.exit("no bench output")
merged["rows"] = rows
merged["levers"] = levers
(out / "gpu_bench.json").write_text(json.dumps(merged, indent=1) + "\n")
print(merged["machine"].get("gpu"), "torch", merged["machine"]["torch"], "runs", merged["settings"]["runs"])
head = f"{'backbone':8} {'input':9} {'b':>3} {'runtime':17} {'pre':>6} {'fwd':>6} {'post':>6} {'total':>7} {'img/s':>8} {'faces':>6}  packed/larger_k/overflow/notconv  graph_failures"
print(head); print("-" * len(head))
for r in rows + levers:
    m = lambda k: r[k]["median"]
    print(f"{r['backbone']:8} {r['input']:9} {r['batch']:>3} {r['runtime']:17} {m('preprocess_ms'):6.2f} {m('forward_ms'):6.2f} "
          f"{m('postprocess_ms'):6.2f} {m('total_ms'):7.3f} {r['fps']:8.1f} {r['faces_per_image']:6.1f}  "
          f"{r.get('packed')}/{r.get('larger_top_k')}/{r.get('fallback_overflow')}/{r.get('fallback_not_converged')}  "
          f"{r.get('graph_failures')}")
EOF

stage "done"
