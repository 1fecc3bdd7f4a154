"""Python lightgbm on the matrix written by `cargo run --example lgbm_speed`
(same parameters); prints `python_seconds=...` (Dataset construction
included). Usage: lgbm_speed.py DIR FEATURES TREES THREADS"""
import sys
import time

import lightgbm as lgb
import numpy as np

d, width, trees, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
x = np.fromfile(f"{d}/x.f64", dtype="<f8").reshape(-1, width)
y = np.fromfile(f"{d}/y.f32", dtype="<f4")
params = {
    "objective": "binary",
    "learning_rate": 0.1,
    "num_leaves": 31,
    "min_data_in_leaf": 20,
    "num_threads": threads,
    "force_col_wise": True,
    "verbosity": -1,
    "seed": 1,
}
start = time.perf_counter()
booster = lgb.train(params, lgb.Dataset(x, label=y), num_boost_round=trees)
print(f"python_seconds={time.perf_counter() - start:.3f} trees={booster.num_trees()}")
