#!/usr/bin/env bash
# Installs Apache Airflow 3 (+ the standard provider: BashOperator, and
# pyarrow for the quality gates) into its
# own venv, for the offer_pipeline DAG and its test (scripts/test_airflow.sh).
# Called by scripts/setup.sh; runnable on its own.
#
# Airflow documents installing with its constraints file, but that file lives
# on GitHub, which is not reachable here; airflow/constraints-*.txt is the
# same idea made locally: the `pip freeze` of a working install, so every
# machine resolves the same versions. Without a file for this Python version
# pip resolves freely from the pins below.
#
# Idempotent and fast when already installed: a stamp in the venv records
# what was installed, so a second run only compares two strings.
#
# Environment:
#   OFFERS_AIRFLOW_VENV  venv folder (default ~/.cache/offers-recsys/airflow-venv)
#   OFFERS_PYTHON        interpreter that makes the venv (default python3)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${OFFERS_AIRFLOW_VENV:-$HOME/.cache/offers-recsys/airflow-venv}"
PYTHON="${OFFERS_PYTHON:-python3}"
AIRFLOW_VERSION=3.3.2
STANDARD_PROVIDER_VERSION=1.21.0

py_version="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
constraints="$repo/airflow/constraints-$AIRFLOW_VERSION-py$py_version.txt"
# pyarrow: the features gate counts Parquet rows from the file footers.
want="apache-airflow==$AIRFLOW_VERSION apache-airflow-providers-standard==$STANDARD_PROVIDER_VERSION pyarrow"
stamp_text="$want python$py_version"
if [[ -f "$constraints" ]]; then
  stamp_text+=" constraints:$(sha256sum "$constraints" | cut -c1-16)"
fi

stamp="$VENV/.offers-airflow-stamp"
if [[ -x "$VENV/bin/airflow" && -f "$stamp" && "$(cat "$stamp")" == "$stamp_text" ]]; then
  echo "setup-airflow: ok (airflow $AIRFLOW_VERSION already in $VENV)"
  exit 0
fi

started=$(date +%s)
if [[ ! -x "$VENV/bin/python" ]]; then
  echo "setup-airflow: creating venv $VENV (python $py_version)"
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
pip_args=(install -q)
if [[ -f "$constraints" ]]; then
  pip_args+=(--constraint "$constraints")
  echo "setup-airflow: pip install $want (constraints ${constraints#"$repo"/})"
else
  echo "setup-airflow: pip install $want (no constraints file for python $py_version: free resolution)"
fi
# shellcheck disable=SC2086 # $want is a list of requirement specifiers
"$VENV/bin/python" -m pip "${pip_args[@]}" $want
"$VENV/bin/airflow" version >/dev/null
printf '%s' "$stamp_text" >"$stamp"
echo "setup-airflow: ok (airflow $AIRFLOW_VERSION into $VENV in $(($(date +%s) - started)) s)"
