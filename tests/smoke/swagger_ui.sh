#!/usr/bin/env bash
# Swagger UI of the gateway and of an agency node in headless Chromium (Debian's), against
# a running `federation up` ($1, its folder) with screenshots in $2. The browser trusts the
# dev federation CA and presents the integration client certificate through its own NSS
# database and Chromium's AutoSelectCertificateForUrls policy, as a developer's would.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$1
out=$2
set -a
# shellcheck disable=SC1090,SC1091
. "$root/session.env"
set +a
command -v chromium >/dev/null || { apt-get update && apt-get install -y chromium; }
command -v certutil >/dev/null || { apt-get update && apt-get install -y libnss3-tools; }
command -v npm >/dev/null || { apt-get update && apt-get install -y nodejs npm; }
[ -d .ci/npm/node_modules/puppeteer-core ] ||
  npm install --prefix .ci/npm --no-audit --no-fund --loglevel=error puppeteer-core@24.31.0

browser_home=$(mktemp -d)
policy_dir=/etc/chromium/policies/managed
policy=$policy_dir/child-view-dev-federation-smoke.json
cleanup() { rm -rf "$browser_home"; rm -f "$policy"; }
trap cleanup EXIT

nss="sql:$browser_home/.pki/nssdb"
mkdir -p "$browser_home/.pki/nssdb"
certutil -N -d "$nss" --empty-password
certutil -A -d "$nss" -n "dev federation CA" -t "C,," -i "$CA_CERT"
openssl pkcs12 -export -in "$INTEGRATION_CERT" -inkey "$INTEGRATION_KEY" \
  -name "dev federation integration client" -passout pass: -out "$browser_home/client.p12"
pk12util -d "$nss" -i "$browser_home/client.p12" -W ""

# Present the integration certificate without asking (headless cannot ask): to the node,
# which requires one, and to the gateway, which asks every client for an optional one
# (nodes routing notifications present theirs; a practitioner's is ignored there).
origin() { python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(f"{p.scheme}://{p.netloc}")' "$1"; }
node_origin=$(origin "$INTEGRATION_NODE_URL")
gateway_origin=$(origin "$GATEWAY_URL")
mkdir -p "$policy_dir"
cat >"$policy" <<JSON
{"AutoSelectCertificateForUrls": ["{\"pattern\":\"$node_origin\",\"filter\":{}}", "{\"pattern\":\"$gateway_origin\",\"filter\":{}}"]}
JSON

HOME="$browser_home" NODE_PATH="$PWD/.ci/npm/node_modules" \
  node tests/smoke/swagger_ui.mjs "$root" "$out"
