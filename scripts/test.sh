#!/usr/bin/env bash
# Every test of the project: formatting, lints, the Rust test suites (which
# start their own redis-server and mlflow processes on loopback), the API
# contract test (schemathesis against a real serve) and the Airflow DAG
# test. Installs what is missing first (scripts/setup.sh is idempotent and
# quick once everything is there).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

bash scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy (release profile, all targets)"
cargo clippy --release --workspace --all-targets -q -- -D warnings
echo "== cargo build (release profile, every target: the binaries the Airflow test runs)"
cargo build --release --workspace --all-targets
# Stale test executables (0.5 to 0.7 GB each) filled this machine's disk once.
bash scripts/prune_target.sh
echo "== cargo test (release profile)"
cargo test --release --workspace
if [[ -x scripts/test_schemathesis.sh ]]; then
  echo "== API contract test (schemathesis --checks all against serve)"
  bash scripts/test_schemathesis.sh
fi
if [[ -x scripts/test_airflow.sh ]]; then
  echo "== Airflow DAG test"
  bash scripts/test_airflow.sh
fi
