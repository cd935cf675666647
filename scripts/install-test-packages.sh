#!/usr/bin/env bash
# Installs the system packages that tests run as real processes (`make test` calls this before
# the tests). Each line of PACKAGES is "what package": `what` is a binary looked up on PATH, or,
# for a package that ships no binary (a module, a data set), an absolute path that must exist.
# When it is missing and we are root, its Debian package is installed with apt-get; otherwise the
# script says what to install and carries on, and the tests that need it fail with a message
# naming it (they are never skipped silently).
set -euo pipefail

# binary or absolute path    Debian package   used by
PACKAGES=(
  "pebble                    pebble"          # ACME CA (e2e/src/acme-*.test.ts)
  "pebble-challtestsrv       pebble"          # its DNS, pointing test domains at loopback
  "openssl                   openssl"         # test certificates and TLS probes (s_client, s_server)
  "etcd                      etcd-server"     # the etcd store on real etcd (control-plane/src/store/store-etcd*.test.ts, e2e)
  "etcdctl                   etcd-client"     # etcd's users and roles, member status and keys in those tests (shared/src/testing/etcd.ts)
  # The WAF reference: nginx + ModSecurity v3 + the OWASP CRS (e2e/src/waf-detection.test.ts,
  # e2e/src/waf-body-processors.test.ts)
  "nginx                     nginx"
  "/usr/lib/nginx/modules/ngx_http_modsecurity_module.so  libnginx-mod-http-modsecurity"
  "/etc/modsecurity/crs/crs-setup.conf                    modsecurity-crs"
  "/usr/share/modsecurity-crs/rules/REQUEST-901-INITIALIZATION.conf  modsecurity-crs"
  "chromium                  chromium"        # the dashboard in a real browser (e2e/src/dashboard.test.ts)
  "wrk                       wrk"             # the benchmarks' load generator, paced (e2e/src/bench/proxy-wrk.test.ts)
)

missing=()
for entry in "${PACKAGES[@]}"; do
  read -r what package <<<"$entry"
  if [[ "$what" == /* ]]; then
    [ -e "$what" ] || missing+=("$package")
  elif ! command -v "$what" >/dev/null 2>&1; then
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
