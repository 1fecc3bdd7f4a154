#!/usr/bin/env bash
# Deletes the executables of earlier builds (tests, benches, examples,
# binaries) from the shared build cache, keeping exactly those the current
# workspace build makes.
#
# Why: every test or bench executable links polars and LightGBM, 0.5 to
# 0.7 GB each, and cargo never deletes the ones a later build no longer
# makes (their hash changes with their dependencies). On 2026-11-27 33 GB
# of them filled this machine's disk and the linker died with SIGBUS.
# Libraries (rlibs) are left alone: deleting a used one costs a rebuild.
#
# Usage: scripts/prune_target.sh   (after `cargo build --release
# --workspace --all-targets`; the build it runs itself is then a no-op)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

listing=$(mktemp)
trap 'rm -f "$listing"' EXIT
# Cargo's JSON records name every executable this build makes (for binaries
# and examples the uplifted hard link of the file in deps/).
cargo build --release --workspace --all-targets -q --message-format=json-render-diagnostics >"$listing"

python3 - "$listing" "$CARGO_TARGET_DIR/release" <<'PY'
import json, os, stat, sys

listing, release = sys.argv[1], sys.argv[2]
keep = set()
with open(listing) as f:
    for line in f:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        exe = msg.get("executable")
        if exe and os.path.exists(exe):
            st = os.stat(exe)
            keep.add((st.st_dev, st.st_ino))
if not keep:
    sys.exit("prune_target: the build listed no executable; nothing deleted")
freed, count = 0, 0
for folder in ("deps", "examples"):
    base = os.path.join(release, folder)
    if not os.path.isdir(base):
        continue
    for name in os.listdir(base):
        path = os.path.join(base, name)
        if "." in name or not os.path.isfile(path) or os.path.islink(path):
            continue
        st = os.stat(path)
        if not st.st_mode & stat.S_IXUSR or (st.st_dev, st.st_ino) in keep:
            continue
        os.remove(path)
        freed += st.st_size if st.st_nlink == 1 else 0
        count += 1
print(f"prune_target: kept {len(keep)} current executables, deleted {count} stale ones ({freed / 1e9:.1f} GB)")
PY
