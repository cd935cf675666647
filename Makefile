# Ferry — the two commands (see README.md): `make run` and `make test`.
# Both install what they need: pnpm through npx (pinned), the workspace's npm dependencies
# (lockfile); `make test` also the system packages tests run (scripts/install-test-packages.sh).
SHELL := /bin/bash
PNPM_VERSION := 10.34.9
PNPM := npx -y pnpm@$(PNPM_VERSION)

.PHONY: all install build lint eslint format-check typecheck format run test test-packages unit-test bench bench-xds bench-proxy clean

all: build

node_modules/.modules.yaml: package.json pnpm-lock.yaml */package.json
	$(PNPM) install --frozen-lockfile
	@touch $@

install: node_modules/.modules.yaml

build: install
	$(PNPM) --filter @ferry/proto run gen
	npx tsc -b

typecheck: build

# The two checks run side by side (each is single-threaded); their output is not interleaved.
lint: build
	$(MAKE) --no-print-directory -j2 --output-sync=target eslint format-check

# (Run through lint or test, after build.)
eslint:
	npx eslint .

format-check:
	npx prettier --check .

format: install
	npx prettier --write .

# The main job: control plane on its embedded SQLite store with an example config applied.
run: build
	node scripts/demo.mjs

# System packages the end-to-end tests run (pebble, ...): installed with apt-get when root.
test-packages:
	bash scripts/install-test-packages.sh

# Every test: type check, lint, formatting, unit and end-to-end tests. Lint, the format check and
# the system packages' installation (mostly waiting on the network) run side by side first.
test: build
	$(MAKE) --no-print-directory -j3 --output-sync=target eslint format-check test-packages
	node scripts/run-tests.mjs

bench-xds: build
	node scripts/bench-xds.mjs

# ferry-proxy vs nginx vs HAProxy on loopback (installs nginx, haproxy, wrk with apt-get when
# missing and run as root). `node scripts/bench-proxy.mjs --quick` for a short run.
bench-proxy: build
	node scripts/bench-proxy.mjs

bench: bench-xds bench-proxy

clean:
	rm -rf */dist */*.tsbuildinfo proto/gen
