#!/usr/bin/env bash
# Installs what a fresh machine lacks: system tools (espeak-ng, sox, ffmpeg; chromium for the report's
# page test) and the project in .venv.
# Torch is installed first, alone, so pip takes the pinned 2.13 build (the local CPU wheel on CPU-only
# hosts, the PyPI CUDA build elsewhere) and nothing later pulls another torch.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for tool in espeak-ng sox ffmpeg chromium; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing system packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
if ! .venv/bin/python -c "import talkingface, ray, torch, moto" 2>/dev/null || [ pyproject.toml -nt .venv/.installed ] \
  || [ cluster/constraints.txt -nt .venv/.installed ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q "torch>=2.13,<2.14"
  # The versions the tests ran with (cluster/constraints.txt), so a new release upstream cannot
  # change a fresh install under the suite.
  .venv/bin/pip install -q -c cluster/constraints.txt -e ".[test]"
  touch .venv/.installed
fi
