#!/usr/bin/env bash
# The ranker against a plain LightGBM on pandas features, on real data:
# Dunnhumby's Complete Journey through ingest, entity-resolution, features
# and train, at three cut-offs (the data cut 0, 30 and 60 days before its
# last send), each scored on its own test window; the peer
# (scripts/bench_realdata.py: RFM and offer history strictly from the past,
# Python lightgbm) on the same rows. Prints one table and the means.
#   bash scripts/bench_realdata.sh [WORK_DIR]   (default: a temporary dir)
# Needs the release binaries (cargo build --release --workspace) and the
# project venv (scripts/setup.sh). CPU-heavy for about a minute.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$repo/scripts/env.sh"
bin="$CARGO_TARGET_DIR/release"
py="$OFFERS_PYVENV/bin/python"
work="${1:-$(mktemp -d)}"
export OFFERS_LOG=warn

[[ -f "$work/source/transactions.parquet" ]] || bash "$repo/examples/complete-journey/fetch.sh" "$work/source" >/dev/null
"$bin/ingest" --mapping "$repo/examples/complete-journey/mapping.toml" \
  --source-dir "$work/source" --data-dir "$work/full" >/dev/null

results=()
for back in 0 30 60; do
  data="$work/cut-$back/data"; models="$work/cut-$back/models"
  rm -rf "$work/cut-$back"; mkdir -p "$data"
  # The data as it was `back` days before the last send: every event
  # before that day.
  "$py" - "$work/full" "$data" "$back" <<'PY'
import shutil, sys, pathlib
import pandas as pd
src, dst, back = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), int(sys.argv[3])
sends = pd.read_parquet(src / "offer_interactions.parquet")
end = pd.to_datetime(sends.sent_date).max() + pd.Timedelta(days=1 - back)
sends[pd.to_datetime(sends.sent_date) < end].to_parquet(dst / "offer_interactions.parquet", index=False)
tx = pd.read_parquet(src / "transactions.parquet")
tx[pd.to_datetime(tx.transaction_date) < end].to_parquet(dst / "transactions.parquet", index=False)
for name in ["offers", "customers_raw"]:
    shutil.copy(src / f"{name}.parquet", dst / f"{name}.parquet")
PY
  "$bin/entity-resolution" --data-dir "$data" --model-dir "$models" >/dev/null
  "$bin/features" --data-dir "$data" >/dev/null
  "$bin/train" --data-dir "$data" --model-dir "$models" >/dev/null
  results+=("$("$py" "$repo/scripts/bench_realdata.py" "$data" "$models")")
done

printf '%s\n' "${results[@]}" > "$work/results.jsonl"
"$py" - "$work/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"{'test window':26} {'rows':>5} {'pos':>4} {'AUC ours':>9} {'AUC peer':>9} {'P@10% ours':>11} {'P@10% peer':>11}")
for r in rows:
    assert r["rows"] == r["model_rows"], f"different test rows: {r}"
    print(f"{r['test_window']:26} {r['rows']:5} {r['positives']:4} {r['ours_auc']:9.4f} {r['peer_auc']:9.4f} {r['ours_p10']:11.4f} {r['peer_p10']:11.4f}")
mean = lambda k: sum(r[k] for r in rows) / len(rows)
print(f"{'mean':37} {mean('ours_auc'):9.4f} {mean('peer_auc'):9.4f} {mean('ours_p10'):11.4f} {mean('peer_p10'):11.4f}")
print(f"ours / peer: AUC {mean('ours_auc') / mean('peer_auc'):.3f}, precision@10% {mean('ours_p10') / max(mean('peer_p10'), 1e-12):.3f}")
PY
