#!/usr/bin/env bash
# GPU benchmark in one go (< 5 minutes on one modern NVIDIA GPU): renderer 256 and 512 in fp32 / bf16 /
# compiled (CUDA graphs) at batch 1..32, the recon net, one end-to-end clip; one table at the end.
#
#   bash benchmarks/gpu.sh                 # on a machine with an NVIDIA GPU and a CUDA torch
#   bash benchmarks/gpu.sh --dry-run       # print the steps only
#   bash benchmarks/gpu.sh --small         # tiny renderer on CPU: checks the script itself (~minutes)
#
# Installs nothing but the project itself (pip install --no-deps -e . when talkingface is not
# importable); torch with CUDA must already be there. PYTHON overrides the interpreter (default:
# .venv/bin/python if present, else python3). Full logs go to ${OUT:-out/gpu-bench}/; every step has its
# own time limit, so one slow step cannot eat the budget of the others.
set -uo pipefail
cd "$(dirname "$0")/.."

MODE=gpu
case "${1:-}" in
  --dry-run) MODE=dry ;;
  --small) MODE=small ;;
  "") ;;
  *) echo "usage: $0 [--dry-run | --small]" >&2; exit 2 ;;
esac

PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
LOGS=${OUT:-out/gpu-bench}
mkdir -p "$LOGS"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if [ "$MODE" = gpu ]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || {
    echo "gpu.sh: no NVIDIA GPU visible (nvidia-smi failed); use --small for a CPU check" >&2; exit 1; }
  "$PYTHON" -c "import talkingface" 2>/dev/null || "$PYTHON" -m pip install --no-deps -e . >"$LOGS/install.log"
  "$PYTHON" -c "import torch; assert torch.cuda.is_available(), 'torch has no CUDA'; \
print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(), \
'bf16', torch.cuda.is_bf16_supported())" || exit 1
fi

# name | limit (s) | command
if [ "$MODE" = small ]; then
  STEPS=(
    "render-tiny-b2|300|benchmarks/render_speed.py --config tiny --device cpu --frames 2 --repeats 1 --batch-size 2"
    "recon-cpu|300|benchmarks/recon_batch.py --device cpu --frames 4 --batch 2 --repeats 1"
    "clip-tiny|300|benchmarks/clip_speed.py --config tiny --device cpu --seconds 0.4 --batch-size 2"
  )
else
  STEPS=(
    "render-256-b1|60|benchmarks/render_speed.py --device cuda --size 256 --frames 16 --repeats 2 --batch-size 1"
    "render-256-b8|70|benchmarks/render_speed.py --device cuda --size 256 --frames 32 --repeats 2 --batch-size 8 --compile"
    "render-256-b32|60|benchmarks/render_speed.py --device cuda --size 256 --frames 64 --repeats 2 --batch-size 32"
    "render-512-b8|60|benchmarks/render_speed.py --device cuda --size 512 --frames 16 --repeats 2 --batch-size 8"
    "recon-b32|25|benchmarks/recon_batch.py --device cuda --frames 256 --batch 32 --repeats 2"
    "clip-256|50|benchmarks/clip_speed.py --device cuda --seconds 3 --batch-size 16"
  )
fi

for step in "${STEPS[@]}"; do
  IFS='|' read -r name limit cmd <<<"$step"
  if [ "$MODE" = dry ]; then
    echo "[$name] timeout ${limit}s $PYTHON $cmd"
    continue
  fi
  echo "== $name (limit ${limit}s)" >&2
  # shellcheck disable=SC2086  # cmd is a word list by design
  timeout "$limit" "$PYTHON" $cmd >"$LOGS/$name.log" 2>&1
  rc=$?
  [ $rc -eq 0 ] || echo "   $name: exit $rc (124 = over its time limit); see $LOGS/$name.log" >&2
done
[ "$MODE" = dry ] && exit 0

echo
echo "================ summary (full logs: $LOGS/) ================"
for step in "${STEPS[@]}"; do
  name=${step%%|*}
  echo "---- $name"
  # the figures: table rows of render_speed, the recon lines, the clip lines, matmul rates and compile time
  grep -E "^(sadtalker|ours|baseline|per-frame|batched|speed-up|fp32|bf16|fp16|# matmul|# compile|# GFLOP)" \
    "$LOGS/$name.log" 2>/dev/null || echo "   (no figures: see $LOGS/$name.log)"
done
