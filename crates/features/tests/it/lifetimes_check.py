"""lifetimes' summary of the transactions of DATA_DIR before CUTOFF, for the
features test: `python lifetimes_check.py DATA_DIR CUTOFF` prints
{record_id: [frequency, recency, T, monetary_value]} as JSON.
The cut-off is exclusive, so lifetimes' (inclusive) observation end is
the day before it."""
import json
import pathlib
import sys

import pandas as pd
from lifetimes.utils import summary_data_from_transaction_data

data, cutoff = pathlib.Path(sys.argv[1]), pd.Timestamp(sys.argv[2])
tx = pd.read_parquet(data / "transactions.parquet", columns=["record_id", "amount", "transaction_date"])
tx["transaction_date"] = pd.to_datetime(tx.transaction_date)
summary = summary_data_from_transaction_data(
    tx, "record_id", "transaction_date", monetary_value_col="amount",
    observation_period_end=cutoff - pd.Timedelta(days=1), freq="D",
)
print(json.dumps({
    str(k): [float(r["frequency"]), float(r["recency"]), float(r["T"]), float(r["monetary_value"])]
    for k, r in summary.iterrows()
}))
