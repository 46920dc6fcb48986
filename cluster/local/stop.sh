#!/usr/bin/env bash
# Stop the local Ray cluster started by start.sh.
set -euo pipefail
ray stop
