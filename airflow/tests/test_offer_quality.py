"""Behaviour of the quality gates on small, readable reports.

Run with the Airflow venv's Python (pyarrow writes the Parquet inputs):
    python -m unittest discover -s airflow/tests
"""

from __future__ import annotations

import json
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dags"))

import offer_quality as q  # noqa: E402


def write_json(path: Path, document: object) -> None:
    path.write_text(json.dumps(document), encoding="utf-8")


def write_rows(path: Path, rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": [f"R{i}" for i in range(rows)]}), path)


GOOD_METRICS = {
    "temporal": {"auc": 0.74, "auc_on_truth_rows": 0.74, "oracle_auc": 0.80},
    "ranking": {"top3_expected_redemptions_share": 0.60, "top3_random_share": 0.40},
}


class ModelGate(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = Path(tempfile.mkdtemp())
        self.lines: list[str] = []

    def gate(self, metrics: object, bars: dict[str, float] | None = None) -> None:
        write_json(self.dir / "metrics.json", metrics)
        q.model_gate(self.dir, bars or {}, self.lines.append)

    def test_a_good_model_passes_and_every_figure_is_logged(self) -> None:
        self.gate(GOOD_METRICS)
        self.assertEqual(len(self.lines), 3, self.lines)
        self.assertTrue(all(" ok " in line for line in self.lines), self.lines)
        self.assertIn("`temporal.auc` = 0.7400, bar >= 0.6", self.lines[0])
        self.assertIn("= 0.9250", self.lines[1])  # 0.74 / 0.80

    def test_a_bar_above_the_figure_fails_naming_figure_and_bar(self) -> None:
        with self.assertRaises(q.QualityGateError) as err:
            self.gate(GOOD_METRICS, {"min_test_auc": 0.999})
        message = str(err.exception)
        self.assertIn("temporal.auc", message)
        self.assertIn("0.7400", message)
        self.assertIn(">= 0.999", message)

    def test_a_model_no_better_than_random_fails(self) -> None:
        metrics = json.loads(json.dumps(GOOD_METRICS))
        metrics["ranking"]["top3_expected_redemptions_share"] = 0.40
        with self.assertRaises(q.QualityGateError) as err:
            self.gate(metrics)
        self.assertIn("top3_random_share", str(err.exception))

    def test_an_undefined_auc_fails(self) -> None:
        with self.assertRaises(q.QualityGateError) as err:
            self.gate({"temporal": {"auc": None}})
        self.assertIn("expected a number", str(err.exception))

    def test_missing_required_figure_fails_but_missing_truth_figures_are_skipped(self) -> None:
        self.gate({"temporal": {"auc": 0.7}})
        self.assertEqual(sum("skipped" in line for line in self.lines), 2, self.lines)
        with self.assertRaises(q.QualityGateError) as err:
            self.gate({"temporal": {}})
        self.assertIn("temporal.auc", str(err.exception))

    def test_missing_metrics_file_fails_naming_it(self) -> None:
        with self.assertRaises(q.QualityGateError) as err:
            q.model_gate(self.dir, {}, self.lines.append)
        self.assertIn("metrics.json: missing", str(err.exception))


class FeatureGate(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = Path(tempfile.mkdtemp())
        self.lines: list[str] = []
        write_json(self.dir / "er_report.json", {"quality": {"pairwise_precision": 0.95, "pairwise_recall": 0.9}})
        self.report(rejected=0)

    def report(self, rejected: int, rows: int = 1000) -> None:
        counts = [{"rule": "negative", "column": "amount", "action": "reject", "rows": rejected}] if rejected else []
        write_json(
            self.dir / "features_report.json",
            {"data_quality": [{"table": "transactions", "rows": rows, "rejected": rejected, "cleared": 0, "counts": counts}]},
        )

    def test_plausible_resolution_passes(self) -> None:
        write_rows(self.dir / "customers_raw.parquet", 1180)
        write_rows(self.dir / "customer_features.parquet", 1000)
        q.feature_gate(self.dir, {}, self.lines.append)
        self.assertTrue(any("1000/1180" in line for line in self.lines), self.lines)

    def test_nothing_merged_fails(self) -> None:
        write_rows(self.dir / "customers_raw.parquet", 1180)
        write_rows(self.dir / "customer_features.parquet", 1180)
        with self.assertRaises(q.QualityGateError) as err:
            q.feature_gate(self.dir, {}, self.lines.append)
        self.assertIn("resolved customers per raw record", str(err.exception))

    def test_too_few_rows_and_low_precision_both_reported(self) -> None:
        write_json(self.dir / "er_report.json", {"quality": {"pairwise_precision": 0.3, "pairwise_recall": 0.9}})
        write_rows(self.dir / "customers_raw.parquet", 60)
        write_rows(self.dir / "customer_features.parquet", 50)
        with self.assertRaises(q.QualityGateError) as err:
            q.feature_gate(self.dir, {}, self.lines.append)
        message = str(err.exception)
        self.assertIn("pairwise_precision", message)
        self.assertIn("50 rows", message)

    def test_the_rejected_share_of_an_input_is_gated(self) -> None:
        write_rows(self.dir / "customers_raw.parquet", 1180)
        write_rows(self.dir / "customer_features.parquet", 1000)
        self.report(rejected=8)
        q.feature_gate(self.dir, {}, self.lines.append)
        self.assertTrue(any("8/1000 rows rejected = 0.0080" in line for line in self.lines), self.lines)
        with self.assertRaises(q.QualityGateError) as err:
            q.feature_gate(self.dir, {"max_input_reject_share": 0.005}, self.lines.append)
        self.assertIn("`transactions`: 8/1000", str(err.exception))
        self.assertIn("negative on amount: 8", str(err.exception))

    def test_er_report_counts_are_gated_too(self) -> None:
        write_rows(self.dir / "customers_raw.parquet", 1180)
        write_rows(self.dir / "customer_features.parquet", 1000)
        write_json(
            self.dir / "er_report.json",
            {"data_quality": {"table": "customers_raw", "rows": 100, "rejected": 5, "cleared": 0, "counts": []}},
        )
        with self.assertRaises(q.QualityGateError) as err:
            q.feature_gate(self.dir, {}, self.lines.append)
        self.assertIn("er_report.json `customers_raw`: 5/100", str(err.exception))

    def test_a_missing_features_report_fails_naming_it(self) -> None:
        (self.dir / "features_report.json").unlink()
        write_rows(self.dir / "customers_raw.parquet", 1180)
        write_rows(self.dir / "customer_features.parquet", 1000)
        with self.assertRaises(q.QualityGateError) as err:
            q.feature_gate(self.dir, {}, self.lines.append)
        self.assertIn("features_report.json: missing", str(err.exception))

    def test_missing_features_table_fails_naming_it(self) -> None:
        write_rows(self.dir / "customers_raw.parquet", 10)
        with self.assertRaises(q.QualityGateError) as err:
            q.feature_gate(self.dir, {}, self.lines.append)
        self.assertIn("customer_features.parquet: missing", str(err.exception))


class Bars(unittest.TestCase):
    def test_bars_come_from_the_environment(self) -> None:
        env = {"OFFERS_GATE_MIN_TEST_AUC": "0.9", "OFFERS_GATE_MIN_ER_PAIR_RECALL": ""}
        self.assertEqual(q.bars_from_env(q.MODEL_BARS + q.FEATURE_BARS, env), {"min_test_auc": 0.9})

    def test_a_bar_that_is_not_a_number_is_refused(self) -> None:
        with self.assertRaises(q.QualityGateError) as err:
            q.bars_from_env(["min_test_auc"], {"OFFERS_GATE_MIN_TEST_AUC": "high"})
        self.assertIn("OFFERS_GATE_MIN_TEST_AUC", str(err.exception))


if __name__ == "__main__":
    unittest.main()
