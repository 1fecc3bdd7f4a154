"""The peer of the ranker on real data: a plain LightGBM on pandas RFM and
offer-history features, built strictly from the past, scored on the test
window of one `train` run.

    python bench_realdata.py DATA_DIR MODEL_DIR

reads the pipeline's input tables of DATA_DIR (the contract's), the test
window and the figures of MODEL_DIR/metrics.json, and prints one JSON line:
the rows, the positives, and AUC and precision@10% of the model and of the
pandas + LightGBM peer on the same rows.

The peer's examples follow the same schedule as `train`: windows of
`window_days` ending at the test window's start; the features of a window's
sends are computed from the events strictly before the window starts.
"""
import json
import math
import pathlib
import sys

import lightgbm as lgb
import numpy as np
import pandas as pd

data, models = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
metrics = json.loads((models / "metrics.json").read_text())
window = metrics["data"]["window_days"]
start, end = (pd.Timestamp(d) for d in metrics["data"]["test_window"].strip("[)").split(", "))

tx = pd.read_parquet(data / "transactions.parquet", columns=["record_id", "amount", "transaction_date"])
tx["day"] = pd.to_datetime(tx.transaction_date)
sends = pd.read_parquet(data / "offer_interactions.parquet", columns=["record_id", "offer_id", "sent_date", "redeemed"])
sends["day"] = pd.to_datetime(sends.sent_date)
offers = pd.read_parquet(data / "offers.parquet", columns=["offer_id", "offer_type"])
sends = sends.merge(offers, on="offer_id", how="left")
types = sorted(offers.offer_type.unique())


def features(rows: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """RFM and offer history of each row's household before `cutoff`."""
    past = tx[tx.day < cutoff]
    rfm = past.groupby("record_id").agg(
        last=("day", "max"), first=("day", "min"), frequency=("amount", "size"),
        monetary_total=("amount", "sum"), monetary_mean=("amount", "mean"),
    )
    rfm["recency_days"] = (cutoff - rfm["last"]).dt.days
    rfm["tenure_days"] = (rfm["last"] - rfm["first"]).dt.days
    rfm = rfm.drop(columns=["last", "first"])
    history = sends[sends.day < cutoff]
    h = history.groupby("record_id").agg(past_sends=("redeemed", "size"), past_redeems=("redeemed", "sum"))
    h["past_rate"] = (h.past_redeems + 1) / (h.past_sends + 2)
    by_type = history.groupby(["record_id", "offer_type"]).redeemed.agg(["size", "sum"]).reset_index()
    by_type.columns = ["record_id", "offer_type", "type_sends", "type_redeems"]
    type_rate = history.groupby("offer_type").redeemed.agg(["size", "sum"]).reset_index()
    type_rate["type_rate"] = (type_rate["sum"] + 1) / (type_rate["size"] + 2)
    out = (
        rows.merge(rfm, left_on="record_id", right_index=True, how="left")
        .merge(h, left_on="record_id", right_index=True, how="left")
        .merge(by_type, on=["record_id", "offer_type"], how="left")
        .merge(type_rate[["offer_type", "type_rate"]], on="offer_type", how="left")
    )
    for c in ["frequency", "monetary_total", "past_sends", "past_redeems", "type_sends", "type_redeems"]:
        out[c] = out[c].fillna(0.0)
    out["past_rate"] = out["past_rate"].fillna(0.5)
    for t in types:
        out[f"type_{t}"] = (out.offer_type == t).astype(float)
    return out


COLUMNS = None


def matrix(df: pd.DataFrame) -> np.ndarray:
    global COLUMNS
    COLUMNS = [c for c in df.columns if c not in ("record_id", "offer_id", "sent_date", "redeemed", "day", "offer_type")]
    return df[COLUMNS].to_numpy(dtype=float)


# Training windows: [s - w, s) for s = start, start - w, ... down to the
# first send, features as of each window's start.
train_parts = []
cut = start
first = sends.day.min()
while cut > first:
    lo = cut - pd.Timedelta(days=window)
    rows = sends[(sends.day >= lo) & (sends.day < cut)]
    if len(rows):
        train_parts.append(features(rows, lo))
    cut = lo
train = pd.concat(train_parts, ignore_index=True)
test = features(sends[(sends.day >= start) & (sends.day < end)], start)

params = {"objective": "binary", "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 20,
          "verbosity": -1, "seed": 42, "deterministic": True, "num_threads": 2}
x_train = matrix(train)
booster = lgb.train(params, lgb.Dataset(x_train, label=train.redeemed.to_numpy(dtype=float)), num_boost_round=100)
scores = booster.predict(matrix(test))
labels = test.redeemed.to_numpy(dtype=float)


def auc(y: np.ndarray, s: np.ndarray) -> float:
    """Mann-Whitney AUC, ties counted half."""
    ranks = pd.Series(s).rank(method="average").to_numpy()
    pos = y == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def precision_at_10pct(y: np.ndarray, s: np.ndarray) -> float:
    top = math.ceil(len(y) * 0.1)
    order = np.argsort(-s, kind="stable")[:top]
    return float(y[order].mean())


model = metrics["evaluation"]["model"]
print(json.dumps({
    "test_window": metrics["data"]["test_window"],
    "rows": int(len(test)),
    "model_rows": metrics["evaluation"]["rows"],
    "positives": int(labels.sum()),
    "train_rows": int(len(train)),
    "ours_auc": model["auc"],
    "peer_auc": auc(labels, scores),
    "ours_p10": model["precision_at_10pct"],
    "peer_p10": precision_at_10pct(labels, scores),
}))
