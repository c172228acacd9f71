# VegaFS developer commands. `make help` lists them; CI runs `make test`.
.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
# The directories `make run`'s service may touch (':'-separated); default: this checkout.
VEGAFS_ROOTS ?= $(CURDIR)

.PHONY: help run build dev test lint fmt docs cargo-test stubtest pytest services bench bench-hash bench-dupes bench-copy bench-search bench-api bench-plugin clean

help: ## List the developer commands
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-11s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/maturin:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip 'maturin>=1.7,<2'

build: $(BIN)/maturin ## Build the Rust core (release) and install VegaFS into .venv
	$(BIN)/maturin develop --release --extras dev --quiet

dev: $(BIN)/maturin ## Same with a debug build: quicker to compile, slower to run
	$(BIN)/maturin develop --extras dev --quiet

run: build ## Build, install, serve the API on 127.0.0.1:8000 (SQLite; jobs may touch VEGAFS_ROOTS)
	VEGAFS_ROOTS="$(VEGAFS_ROOTS)" $(BIN)/vegafs serve --host 127.0.0.1 --port 8000

test: lint cargo-test stubtest pytest ## Everything CI runs: lint, cargo test, stub check, pytest

lint: build ## cargo fmt --check, clippy -D warnings, ruff, mypy
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(BIN)/maturin ## Format Rust and Python, apply safe lint fixes
	cargo fmt --all
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

docs: build ## Rewrite docs/cli.md's command reference and the quick path's option table from the commands (tests check both)
	$(BIN)/python -m vegafs.cli.reference docs/cli.md
	$(BIN)/python -m vegafs.cli.quick_table

cargo-test: ## Rust unit and integration tests
	scripts/ensure-packages.sh util-linux
	cargo test -p vegafs-core --release

stubtest: build ## Check python/vegafs/_native.pyi against the built module
	$(BIN)/python -m mypy.stubtest vegafs._native

pytest: build services ## Python tests (CLI, API) on real trees and real servers
	scripts/ensure-packages.sh strace util-linux b3sum xxhash ripgrep chromium
	scripts/ensure-compose.sh
	set -a && . ./.services.env && set +a && $(BIN)/pytest

.PHONY: deploy-check
deploy-check: build ## Validate deploy/: hadolint (Dockerfile), docker-compose config, kubernetes-validate --strict
	scripts/ensure-compose.sh
	$(BIN)/hadolint --config deploy/hadolint.yaml deploy/Dockerfile
	cd deploy && ../.venv-compose/bin/docker-compose -f compose.yaml config --quiet
	$(BIN)/kubernetes-validate --strict --quiet -k 1.30.0 $(filter-out %kustomization.yaml,$(wildcard deploy/k8s/*.yaml))

services: ## Start PostgreSQL and Redis on loopback (installed when missing); URLs in .services.env
	scripts/services.sh > .services.env

bench: build ## Benchmarks against du, diskus, pdu, dust, gdu, fd and Python (docs/benchmarks.md)
	scripts/ensure-packages.sh gdu fd-find time
	scripts/ensure-bench-tools.sh
	$(BIN)/python bench/analyze.py $(BENCH_ARGS)
	$(BIN)/python bench/startup.py

bench-hash: build ## vegafs hash against fdfind -X b3sum / sha256sum on 100,000 files (docs/benchmarks.md)
	scripts/ensure-packages.sh fd-find b3sum time
	$(BIN)/python bench/hash.py $(BENCH_ARGS)

bench-dupes: build ## dupes against jdupes -r and fclones group on a generated tree of 100,000 files (docs/benchmarks.md)
	scripts/ensure-packages.sh jdupes time
	scripts/ensure-bench-tools.sh
	$(BIN)/python bench/dupes.py $(BENCH_DUPES_ARGS)

bench-search: build ## vegafs search against rg -uuu, ugrep -r, grep -r on a generated text tree (docs/benchmarks.md)
	scripts/ensure-packages.sh ripgrep ugrep grep
	$(BIN)/python bench/search.py $(BENCH_SEARCH_ARGS)

bench-plugin: build ## vegafs run --plugin (trivial plugins) on a generated tree of 100,000 files, in files/s (docs/benchmarks.md)
	$(BIN)/python bench/plugin.py $(BENCH_PLUGIN_ARGS)

bench-api: build services ## Job service under wrk on PostgreSQL, against a bare FastAPI + asyncpg floor (docs/benchmarks.md)
	scripts/ensure-packages.sh wrk
	$(BIN)/python bench/jobs_api.py $(BENCH_API_ARGS)

.PHONY: bench-rename
bench-rename: build ## journaled vegafs rename --apply of 100,000 files against find -exec perl rename (docs/benchmarks.md)
	scripts/ensure-packages.sh rename
	$(BIN)/python bench/rename.py $(BENCH_RENAME_ARGS)

.PHONY: bench-copy
bench-copy: build ## vegafs copy --apply of 100,000 generated files against cp -a, rsync -a and xcp (docs/benchmarks.md)
	scripts/ensure-packages.sh rsync
	scripts/ensure-bench-tools.sh
	$(BIN)/python bench/copying.py $(BENCH_COPY_ARGS)

.PHONY: bench-planning
bench-planning: build ## the writing operations' plans on their hard cases at N and 2N entries: how they scale (docs/benchmarks.md)
	$(BIN)/python bench/planning.py $(BENCH_PLANNING_ARGS)

.PHONY: bench-validate
bench-validate: build ## vegafs validate of 100,000 small JSON files against a Python json.load loop and jq (docs/benchmarks.md)
	scripts/ensure-packages.sh jq
	$(BIN)/python bench/validate.py $(BENCH_VALIDATE_ARGS)

clean: ## Remove build outputs and the virtualenv
	cargo clean
	rm -rf $(VENV) python/vegafs/*.so .mypy_cache .ruff_cache .pytest_cache
