#!/usr/bin/env bash
# Lints the committed OpenAPI documents: Redocly CLI's recommended rules (stricter where
# openapi/redocly.yaml says), then our own bar (tests/smoke/openapi_quality.py).
# Installs Node.js from Debian when missing and Redocly CLI into .ci/npm (gitignored).
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v npm >/dev/null || { apt-get update && apt-get install -y nodejs npm; }
redocly=.ci/npm/node_modules/.bin/redocly
[ -x "$redocly" ] || npm install --prefix .ci/npm --no-audit --no-fund --loglevel=error @redocly/cli@2.77.0
(cd openapi && NO_COLOR=1 REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
  "../$redocly" lint --config redocly.yaml --format=stylish gateway.json agency-node.json 2>&1 \
  | grep -v -E '^\s*║|^\s*╔|^\s*╚')
python3 tests/smoke/openapi_quality.py openapi/gateway.json openapi/agency-node.json
