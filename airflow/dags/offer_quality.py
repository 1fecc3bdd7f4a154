"""Data-quality gates of the offer pipeline.

Each gate reads figures the stages already wrote (``er_report.json``,
``features_report.json``, ``models/metrics.json``, the Parquet row counts) and raises
``QualityGateError`` when one falls on the wrong side of its bar, so the DAG
run fails there and a bad model never reaches the cache.

A check names a figure by a dotted key path into a JSON file. The stages
evolve, so each check lists the key paths it accepts in order of preference
and uses the first one present; a check none of whose paths is present fails
(a gate that silently checks nothing would let anything through).

Bars come from Airflow Variables or the environment
(``offers_gate_<name>`` / ``OFFERS_GATE_<NAME>``); the DAG resolves them and
passes plain numbers in, so this module has no Airflow import and runs (and
is tested) with the standard library alone.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence


class QualityGateError(Exception):
    """A figure failed its bar, or could not be read."""


class FigureAbsent(QualityGateError):
    """None of a check's key paths is in the file."""


@dataclass(frozen=True)
class Check:
    """One figure and its bar.

    ``name`` is the bar's setting name (``offers_gate_<name>``), ``file`` the
    JSON file in the data or model directory (``root``), ``key_paths`` the
    dotted paths tried in order. With ``denominator_paths`` the figure is the
    ratio of the two. An ``optional`` check is skipped (and says so) when
    its figure is absent: figures measured against the generator's truth
    exist only on synthetic data.
    """

    name: str
    root: str  # "data" or "model"
    file: str
    key_paths: tuple[str, ...]
    op: str  # ">=" or "<="
    default: float
    what: str
    denominator_paths: tuple[str, ...] = ()
    optional: bool = False


# Features gate: did entity resolution link the records it should, and only
# those? (Measured against customers_truth, so only on synthetic data.)
FEATURE_CHECKS: tuple[Check, ...] = (
    Check(
        name="min_er_pair_precision",
        root="data",
        file="er_report.json",
        key_paths=("quality.pairwise_precision",),
        op=">=",
        default=0.8,
        what="share of linked record pairs that are the same person",
        optional=True,
    ),
    Check(
        name="min_er_pair_recall",
        root="data",
        file="er_report.json",
        key_paths=("quality.pairwise_recall_findable", "quality.pairwise_recall"),
        op=">=",
        default=0.7,
        what="share of findable duplicate pairs entity resolution linked",
        optional=True,
    ),
)

# Model gate: is the ranker good enough to serve?
MODEL_CHECKS: tuple[Check, ...] = (
    Check(
        name="min_test_auc",
        root="model",
        file="metrics.json",
        key_paths=("temporal.auc",),
        op=">=",
        default=0.6,
        what="ranker AUC on the held-out (later) test window",
    ),
    Check(
        name="min_auc_share_of_oracle",
        root="model",
        file="metrics.json",
        key_paths=("temporal.auc_on_truth_rows",),
        denominator_paths=("temporal.oracle_auc",),
        op=">=",
        default=0.85,
        what="ranker AUC / AUC of the true propensities on the same rows",
        optional=True,
    ),
    Check(
        name="min_top3_lift_over_random",
        root="model",
        file="metrics.json",
        key_paths=("ranking.top3_expected_redemptions_share",),
        denominator_paths=("ranking.top3_random_share",),
        op=">=",
        default=1.05,
        what="expected redemptions of the model's top 3 / of a random top 3",
        optional=True,
    ),
)

# Bounds on the features table itself (rows are resolved customers).
MIN_FEATURE_ROWS_SETTING = "min_feature_rows"
MIN_FEATURE_ROWS_DEFAULT = 100.0
# Resolved customers per raw record: 1.0 means nothing merged, far below
# ~0.85 means whole households collapsed (datagen makes ~1.18 records per
# person).
MIN_CUSTOMERS_PER_RECORD_SETTING = "min_customers_per_record"
MIN_CUSTOMERS_PER_RECORD_DEFAULT = 0.7
MAX_CUSTOMERS_PER_RECORD_SETTING = "max_customers_per_record"
MAX_CUSTOMERS_PER_RECORD_DEFAULT = 0.99
# The worst share of an input table's rows the stages rejected by the
# contract's data-quality rules (``features_report.json`` and
# ``er_report.json``, ``data_quality``). The stages fail by themselves past
# their ``--max-reject-share`` (default 0.01); the gate lets an operator
# hold the pipeline to a stricter bar without changing the stages' flags.
MAX_INPUT_REJECT_SHARE_SETTING = "max_input_reject_share"
MAX_INPUT_REJECT_SHARE_DEFAULT = 0.01


def lookup(document: Any, key_path: str) -> Any:
    """The value at a dotted path, or ``KeyError``."""
    node = document
    for part in key_path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            raise KeyError(key_path)
    return node


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise QualityGateError(f"{path}: missing (the stage before the gate should have written it)") from None
    except (OSError, ValueError) as err:
        raise QualityGateError(f"{path}: cannot read JSON: {err}") from None


def figure(path: Path, document: Any, key_paths: Sequence[str]) -> tuple[str, float]:
    """The first key path present and its numeric value."""
    for key_path in key_paths:
        try:
            value = lookup(document, key_path)
        except KeyError:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise QualityGateError(f"{path}: `{key_path}` is {value!r}, expected a number")
        return key_path, float(value)
    raise FigureAbsent(f"{path}: none of the keys {', '.join(key_paths)} is present")


def passes(value: float, op: str, bar: float) -> bool:
    if math.isnan(value):
        return False
    if op == ">=":
        return value >= bar
    if op == "<=":
        return value <= bar
    raise ValueError(f"unknown comparison {op!r}")


def check_figure(check: Check, path: Path, document: Any) -> tuple[str, float]:
    """The figure's description (key path, or ``a / b``) and value."""
    key_path, value = figure(path, document, check.key_paths)
    if not check.denominator_paths:
        return key_path, value
    denominator_path, denominator = figure(path, document, check.denominator_paths)
    ratio = value / denominator if denominator else float("nan")
    return f"{key_path} / {denominator_path}", ratio


def run_checks(
    checks: Sequence[Check],
    dirs: Mapping[str, Path],
    bars: Mapping[str, float],
    log: Callable[[str], None] = print,
) -> list[str]:
    """Evaluates every check (so one run reports all failures) and returns
    the failures; logs one line per figure."""
    failures: list[str] = []
    documents: dict[Path, Any] = {}
    for check in checks:
        path = dirs[check.root] / check.file
        try:
            if path not in documents:
                documents[path] = read_json(path)
            key_path, value = check_figure(check, path, documents[path])
        except FigureAbsent as err:
            if check.optional:
                log(f"gate {check.name}: skipped, figure absent ({err})")
                continue
            failures.append(str(err))
            log(f"gate {check.name}: FAIL {err}")
            continue
        except QualityGateError as err:
            failures.append(str(err))
            log(f"gate {check.name}: FAIL {err}")
            continue
        bar = bars.get(check.name, check.default)
        ok = passes(value, check.op, bar)
        line = f"{check.what}: {path.name} `{key_path}` = {value:.4f}, bar {check.op} {bar:g}"
        log(f"gate {check.name}: {'ok' if ok else 'FAIL'} {line}")
        if not ok:
            failures.append(line)
    return failures


def parquet_rows(path: Path) -> int:
    """Row count from the Parquet footer (no data read)."""
    try:
        import pyarrow.parquet as pq
    except ImportError as err:  # pragma: no cover - the setup script installs it
        raise QualityGateError(f"pyarrow is needed to count rows of {path}: {err}") from None
    if not path.is_file():
        raise QualityGateError(f"{path}: missing (the stage before the gate should have written it)")
    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except Exception as err:  # pyarrow raises several types for a bad file
        raise QualityGateError(f"{path}: cannot read the Parquet footer: {err}") from None


def reject_shares(data_dir: Path) -> list[tuple[str, str, int, int, str]]:
    """(file, table, rejected, rows, breakdown) of every screened input
    table: ``features_report.json`` must exist (the features stage writes
    it); ``er_report.json`` counts when it screened ``customers_raw``."""
    found: list[tuple[str, str, int, int, str]] = []
    reports = [("features_report.json", True), ("er_report.json", False)]
    for name, required in reports:
        path = data_dir / name
        if not required and not path.is_file():
            continue
        document = read_json(path)
        tables = document.get("data_quality") if isinstance(document, dict) else None
        if tables is None and not required:
            continue
        if isinstance(tables, dict):
            tables = [tables]
        if not isinstance(tables, list):
            raise QualityGateError(f"{path}: `data_quality` is missing or not a list of tables")
        for t in tables:
            try:
                rejected, rows = int(t["rejected"]), int(t["rows"])
                counts = ", ".join(f"{c['rule']} on {c['column']}: {c['rows']}" for c in t.get("counts", []))
                found.append((name, str(t["table"]), rejected, rows, counts))
            except (KeyError, TypeError, ValueError) as err:
                raise QualityGateError(f"{path}: a `data_quality` entry lacks {err}") from None
    return found


def reject_gate(data_dir: Path, bars: Mapping[str, float], log: Callable[[str], None]) -> list[str]:
    """The input tables' rejected shares against their bar; the failures."""
    bar = bars.get(MAX_INPUT_REJECT_SHARE_SETTING, MAX_INPUT_REJECT_SHARE_DEFAULT)
    try:
        tables = reject_shares(data_dir)
    except QualityGateError as err:
        log(f"gate {MAX_INPUT_REJECT_SHARE_SETTING}: FAIL {err}")
        return [str(err)]
    failures = []
    for file, table, rejected, rows, counts in tables:
        share = rejected / rows if rows else 0.0
        ok = passes(share, "<=", bar)
        line = f"{file} `{table}`: {rejected}/{rows} rows rejected = {share:.4f}, bar <= {bar:g}"
        if counts:
            line += f" ({counts})"
        log(f"gate {MAX_INPUT_REJECT_SHARE_SETTING}: {'ok' if ok else 'FAIL'} {line}")
        if not ok:
            failures.append(line)
    return failures


def feature_gate(data_dir: Path, bars: Mapping[str, float], log: Callable[[str], None] = print) -> None:
    """Fails when entity resolution, the inputs' data quality or the
    features table looks wrong."""
    failures = run_checks(FEATURE_CHECKS, {"data": data_dir}, bars, log)
    failures += reject_gate(data_dir, bars, log)
    try:
        records = parquet_rows(data_dir / "customers_raw.parquet")
        customers = parquet_rows(data_dir / "customer_features.parquet")
    except QualityGateError as err:
        failures.append(str(err))
        log(f"gate rows: FAIL {err}")
    else:
        min_rows = bars.get(MIN_FEATURE_ROWS_SETTING, MIN_FEATURE_ROWS_DEFAULT)
        ok = customers >= min_rows
        line = f"customer_features.parquet has {customers} rows, bar >= {min_rows:g}"
        log(f"gate {MIN_FEATURE_ROWS_SETTING}: {'ok' if ok else 'FAIL'} {line}")
        if not ok:
            failures.append(line)
        ratio = customers / records if records else float("nan")
        low = bars.get(MIN_CUSTOMERS_PER_RECORD_SETTING, MIN_CUSTOMERS_PER_RECORD_DEFAULT)
        high = bars.get(MAX_CUSTOMERS_PER_RECORD_SETTING, MAX_CUSTOMERS_PER_RECORD_DEFAULT)
        ok = passes(ratio, ">=", low) and passes(ratio, "<=", high)
        line = f"resolved customers per raw record: {customers}/{records} = {ratio:.4f}, bar [{low:g}, {high:g}]"
        log(f"gate customers_per_record: {'ok' if ok else 'FAIL'} {line}")
        if not ok:
            failures.append(line)
    if failures:
        raise QualityGateError("features gate failed: " + "; ".join(failures))


def model_gate(model_dir: Path, bars: Mapping[str, float], log: Callable[[str], None] = print) -> None:
    """Fails when the trained model is worse than its bars."""
    failures = run_checks(MODEL_CHECKS, {"model": model_dir}, bars, log)
    if failures:
        raise QualityGateError("model gate failed, the cache keeps the previous model: " + "; ".join(failures))


def bar_names(checks: Sequence[Check]) -> list[str]:
    return [c.name for c in checks]


FEATURE_BARS = bar_names(FEATURE_CHECKS) + [
    MIN_FEATURE_ROWS_SETTING,
    MIN_CUSTOMERS_PER_RECORD_SETTING,
    MAX_CUSTOMERS_PER_RECORD_SETTING,
    MAX_INPUT_REJECT_SHARE_SETTING,
]
MODEL_BARS = bar_names(MODEL_CHECKS)


def bars_from_env(names: Sequence[str], environ: Mapping[str, str] = os.environ) -> dict[str, float]:
    """Bars set as ``OFFERS_GATE_<NAME>`` in the environment."""
    bars: dict[str, float] = {}
    for name in names:
        raw = environ.get(f"OFFERS_GATE_{name.upper()}")
        if raw:
            bars[name] = parse_bar(f"OFFERS_GATE_{name.upper()}", raw)
    return bars


def parse_bar(origin: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise QualityGateError(f"{origin}: {raw!r} is not a number") from None
