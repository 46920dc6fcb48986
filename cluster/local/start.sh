#!/usr/bin/env bash
# Start a one-node local Ray cluster for `ray job submit` (dashboard on 127.0.0.1:8265).
# Auth is explicit so behaviour does not depend on a stray ~/.ray/auth_token (see README).
set -euo pipefail
export RAY_AUTH_MODE=${RAY_AUTH_MODE:-disabled}
export RAY_USAGE_STATS_ENABLED=0
# Logical CPUs are scheduling tokens: twice the cores keeps actor pools from starving Ray Data reads.
CPUS=${CPUS:-$(( $(nproc) * 2 ))}
ray start --head --num-cpus="$CPUS" --dashboard-host=127.0.0.1 --disable-usage-stats "$@"
echo "submit with: RAY_AUTH_MODE=$RAY_AUTH_MODE ray job submit --address http://127.0.0.1:8265 --working-dir . -- python -m jobs.extract ..."
