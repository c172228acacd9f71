#!/usr/bin/env bash
# Builds the Rust anchors of bench/analyze.py (diskus, pdu, dust), bench/dupes.py (fclones),
# bench/replace.py (sd, fastmod) and bench/copying.py (xcp) from crates.io into bench/.tools
# (git-ignored), each only when its binary is missing or reports another version.
# Versions are pinned so that every machine times the same anchors; bump them here.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)/bench/.tools"
# crate version binary
tools=(
    "diskus 0.9.0 diskus"
    "parallel-disk-usage 0.24.0 pdu"
    "du-dust 1.2.7 dust"
    "fclones 0.35.0 fclones"
    "sd 1.0.0 sd"
    "fastmod 0.4.4 fastmod"
    "xcp 0.24.9 xcp"
)
for entry in "${tools[@]}"; do
    read -r crate version binary <<<"$entry"
    bin="$root/bin/$binary"
    if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -qF "$version"; then
        continue
    fi
    echo "building $crate $version into $root (cargo install --locked)" >&2
    started=$SECONDS
    cargo install --quiet --locked --force --root "$root" --version "=$version" "$crate"
    echo "built $binary in $((SECONDS - started)) s" >&2
done
