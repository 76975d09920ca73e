#!/usr/bin/env bash
# Stop ENV's service. Usage: deploy/stop.sh ENV  (same STAGELINE_DEPLOY_ROOT as deploy.sh)
set -euo pipefail
env_name=${1:?usage: stop.sh ENV}
root=${STAGELINE_DEPLOY_ROOT:-${TMPDIR:-/tmp}/stageline-webapp}
exec python3 "$(dirname "$0")/service.py" stop "$root/$env_name"
