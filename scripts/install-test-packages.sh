#!/usr/bin/env bash
# Installs the system packages that tests run as real processes (`make test` calls this before
# the tests). Each line of PACKAGES is "binary package": when a binary is missing and we are
# root, its Debian package is installed with apt-get; otherwise the script says what to install
# and carries on, and the tests that need the binary fail with a message naming it (they are
# never skipped silently).
set -euo pipefail

# binary                     Debian package   used by
PACKAGES=(
  "pebble                    pebble"          # ACME CA (e2e/src/acme-*.test.ts)
  "pebble-challtestsrv       pebble"          # its DNS, pointing test domains at loopback
  "openssl                   openssl"         # test certificates and TLS probes (s_client, s_server)
  "etcd                      etcd-server"     # the etcd store on real etcd (control-plane/src/store/store-etcd*.test.ts, e2e)
  "chromium                  chromium"        # the dashboard in a real browser (e2e/src/dashboard.test.ts)
)

missing=()
for entry in "${PACKAGES[@]}"; do
  read -r binary package <<<"$entry"
  if ! command -v "$binary" >/dev/null 2>&1; then
    missing+=("$package")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
mapfile -t wanted < <(printf '%s\n' "${missing[@]}" | sort -u)

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "install-test-packages: installing ${wanted[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${wanted[@]}"
else
  echo "install-test-packages: missing ${wanted[*]}; install them (as root: apt-get install ${wanted[*]})," \
    "or the tests that need them will fail" >&2
fi
