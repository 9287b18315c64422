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

# Positive and negative cases from the examples, the coverage phase and random fuzzing,
# every check (schemathesis enables all by default; the exceptions, each with its reason,
# are in tests/smoke/schemathesis.toml, which `--checks all` would override); bounded
# per operation so the three runs take a few minutes. One worker: hypothesis's lambda
# introspection is not thread-safe and crashed a run with two.
st() {
  "$venv/bin/schemathesis" --config-file tests/smoke/schemathesis.toml run "$@" \
    --max-examples 40 --seed 10 --workers 1 --request-timeout 20 \
    --tls-verify "$CA_CERT" --phases examples,coverage,fuzzing --no-shrink
}
echo "== schemathesis: gateway ($GATEWAY_URL)"
st openapi/gateway.json --url "$GATEWAY_URL" -H "Authorization: Bearer $TOKEN_DSL" \
  --report junit --report-junit-path "$out/schemathesis-gateway.xml"

echo "== schemathesis: agency node, integration face (the school's system certificate)"
st openapi/agency-node.json --url "$INTEGRATION_NODE_URL" --exclude-tag federation \
  --request-cert "$INTEGRATION_CERT" --request-cert-key "$INTEGRATION_KEY" \
  --report junit --report-junit-path "$out/schemathesis-node-integration.xml"

# The federation face answers gateways only: call it as the dev federation's gateway
# (its certificate sits beside the CA) on behalf of a practitioner.
pki=$(dirname "$CA_CERT")
echo "== schemathesis: agency node, federation face (the gateway's certificate + a token)"
# Under the node's per-member rate limit (the gateway's certificate is one member), so
# every answer is about the request, not a 429.
st openapi/agency-node.json --url "$INTEGRATION_NODE_URL" --include-tag federation \
  --rate-limit 20/s -H "Authorization: Bearer $TOKEN_DSL" \
  --request-cert "$pki/gateway.pem" --request-cert-key "$pki/gateway.key" \
  --report junit --report-junit-path "$out/schemathesis-node-federation.xml"

echo "== generated client (openapi-python-client)"
rm -rf "$out/client"
PATH="$PWD/$venv/bin:$PATH" "$venv/bin/openapi-python-client" generate --path openapi/gateway.json \
  --config tests/smoke/client-config.yaml --output-path "$out/client/child_view_gateway_client" \
  --meta none --overwrite
PYTHONPATH="$out/client" "$venv/bin/python" tests/smoke/generated_client.py "$root"

echo "== Swagger UI in headless Chromium"
bash tests/smoke/swagger_ui.sh "$root" "$out"
