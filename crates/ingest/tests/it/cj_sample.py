"""Samples Complete Journey households for the ingest test and counts, with
pandas and independently of ingest, what ingest should write for them.

    python cj_sample.py FULL_DIR SAMPLE_DIR EVERY

keeps every EVERY-th household (in id order) of the transactions, writes
the household tables of the sample and the full products and campaign
descriptions to SAMPLE_DIR, and prints the expected figures as JSON.
"""
import json
import pathlib
import shutil
import sys

import pandas as pd

src, dst, every = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), int(sys.argv[3])
dst.mkdir(parents=True, exist_ok=True)

households = sorted(pd.read_parquet(src / "transactions.parquet", columns=["household_id"]).household_id.unique())
sample = set(households[::every])


def by_household(name):
    df = pd.read_parquet(src / f"{name}.parquet")
    df = df[df.household_id.isin(sample)]
    df.to_parquet(dst / f"{name}.parquet", index=False)
    return df


tx = by_household("transactions")
demographics = by_household("demographics")
campaigns = by_household("campaigns")
redemptions = by_household("coupon_redemptions")
for name in ["products", "campaign_descriptions"]:
    shutil.copy(src / f"{name}.parquet", dst / f"{name}.parquet")
products = pd.read_parquet(dst / "products.parquet")
descriptions = pd.read_parquet(dst / "campaign_descriptions.parquet")

known = tx.product_id.isin(products.product_id)
kept = tx[known].merge(products[["product_id", "department"]], on="product_id", how="left")
pairs = set(zip(redemptions.household_id, redemptions.campaign_id))
redeemed = sum((h, c) in pairs for h, c in zip(campaigns.household_id, campaigns.campaign_id))

print(json.dumps({
    "households": len(sample),
    "customers": int(tx.household_id.nunique()),
    "with_demographics": int(demographics.household_id.nunique()),
    "offers": len(descriptions),
    "offer_types": {str(k): int(v) for k, v in descriptions.campaign_type.value_counts().items()},
    "campaign_start": {str(r.campaign_id): str(r.start_date.date()) for r in descriptions.itertuples()},
    "campaign_end": {str(r.campaign_id): str(r.end_date.date()) for r in descriptions.itertuples()},
    "transactions_in": len(tx),
    "transactions_out": int(known.sum()),
    "unknown_products": int((~known).sum()),
    "amount_sum": float(kept.sales_value.sum()),
    "quantity_sum": float(kept.quantity.sum()),
    "coupon_disc_sum": float(kept.coupon_disc.sum()),
    "departments": sorted(kept.department.unique().tolist()),
    "days": int(kept.transaction_timestamp.dt.normalize().nunique()),
    "first_day": str(kept.transaction_timestamp.min().date()),
    "last_day": str(kept.transaction_timestamp.max().date()),
    "interactions": len(campaigns),
    "redeemed": int(redeemed),
}))
