#!/usr/bin/env bash
# Installs docker-compose 1.29.2 (PyPI; the last Python release of Compose) into .venv-compose
# (git-ignored) for `make deploy-check`, which runs `docker-compose config` on
# deploy/compose.yaml: no Docker engine is needed to validate and resolve a Compose file.
# A venv of its own: it pins jsonschema<4 and PyYAML<6, which VegaFS's own tools outgrew.
# PyYAML 5.4.1 has no wheel for Python 3.11 and its setup breaks under Cython 3: it is built
# first, without build isolation, against Cython 0.29.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv-compose"
if [ -x "$venv/bin/docker-compose" ] && "$venv/bin/docker-compose" version --short 2>/dev/null | grep -qx 1.29.2; then
    exit 0
fi
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q "cython<3" wheel "setuptools<70"
"$venv/bin/pip" install -q --no-build-isolation "pyyaml==5.4.1"
"$venv/bin/pip" install -q "docker-compose==1.29.2"
"$venv/bin/docker-compose" version --short
