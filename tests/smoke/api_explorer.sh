#!/usr/bin/env bash
# The developer's first ten minutes, checked against a running `federation up` (its folder
# as $1, default .federation): schemathesis fuzzes both OpenAPI contracts, a client
# generated from openapi/gateway.json searches and reads a view, and Swagger UI is driven
# in headless Chromium. Outputs (reports, the generated client, screenshots) go to
# ${SMOKE_OUT:-target/smoke}. Installs what it needs (.ci/.venv, .ci/npm, Debian chromium).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=${1:-.federation}
out=${SMOKE_OUT:-target/smoke}
mkdir -p "$out"
set -a
# shellcheck disable=SC1090,SC1091
. "$root/session.env"
set +a

venv=.ci/.venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet schemathesis==4.32.5 openapi-python-client==0.29.1

echo "== schemathesis: gateway ($GATEWAY_URL)"
# Positive and negative cases from the examples, the coverage phase and random fuzzing;
# bounded per operation so the whole run takes a minute or two.
st_common=(--checks all --max-examples 40 --seed 10 --workers 2 --request-timeout 20
  --tls-verify "$CA_CERT" --phases examples,coverage,fuzzing --no-shrink)
"$venv/bin/schemathesis" run openapi/gateway.json --url "$GATEWAY_URL" "${st_common[@]}" \
  -H "Authorization: Bearer $TOKEN_DSL" \
  --report junit --report-junit-path "$out/schemathesis-gateway.xml"

echo "== schemathesis: agency node ($INTEGRATION_NODE_URL, integration client certificate)"
"$venv/bin/schemathesis" run openapi/agency-node.json --url "$INTEGRATION_NODE_URL" "${st_common[@]}" \
  -H "Authorization: Bearer $TOKEN_DSL" \
  --request-cert "$INTEGRATION_CERT" --request-cert-key "$INTEGRATION_KEY" \
  --report junit --report-junit-path "$out/schemathesis-agency-node.xml"

echo "== generated client (openapi-python-client)"
rm -rf "$out/client"
PATH="$PWD/$venv/bin:$PATH" "$venv/bin/openapi-python-client" generate --path openapi/gateway.json \
  --config tests/smoke/client-config.yaml --output-path "$out/client/child_view_gateway_client" \
  --meta none --overwrite
PYTHONPATH="$out/client" "$venv/bin/python" tests/smoke/generated_client.py "$root"

echo "== Swagger UI in headless Chromium"
bash tests/smoke/swagger_ui.sh "$root" "$out"
