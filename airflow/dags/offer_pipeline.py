"""The offer pipeline as one daily Airflow DAG.

    datagen -> entity_resolution -> features -> quality_gate_features
            -> train -> quality_gate_model -> load_cache

Each stage task runs the stage's release binary (built once with
``cargo build --release``; no cargo at run time). The DAG holds no pipeline
logic: the binaries do the work and the gates only compare figures the
stages wrote (see ``offer_quality.py``) with their bars.

Settings, each an Airflow Variable with an environment fallback, read when a
task runs (never when the file is parsed):

    Variable                      environment            default
    offers_bin_dir                OFFERS_BIN_DIR         $CARGO_TARGET_DIR/release,
                                                         else ~/.cache/offers-recsys/target/release
    offers_data_dir               OFFERS_DATA_DIR        (required)
    offers_model_dir              OFFERS_MODEL_DIR       (required)
    offers_redis_url              REDIS_URL              (required by load_cache)
    offers_mlflow_tracking_uri    MLFLOW_TRACKING_URI    unset: train records locally
    offers_customers              OFFERS_CUSTOMERS       20000
    offers_offers                 OFFERS_OFFERS          datagen's default
    offers_seed                   OFFERS_SEED            42
    offers_gate_<bar>             OFFERS_GATE_<BAR>      see offer_quality.py

Airflow itself also reads a Variable from ``AIRFLOW_VAR_<NAME>``.
Retries are read from the environment when the file is parsed
(``OFFERS_DAG_RETRIES``, default 2; ``OFFERS_DAG_RETRY_DELAY_SECONDS``,
default 300); the gates never retry, a figure does not improve by waiting.
"""

from __future__ import annotations

import os
import shlex
from datetime import datetime, timedelta, timezone
from pathlib import Path

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Variable

import offer_quality

# name -> (Airflow Variable, environment variable)
SETTINGS: dict[str, tuple[str, str]] = {
    "bin_dir": ("offers_bin_dir", "OFFERS_BIN_DIR"),
    "data_dir": ("offers_data_dir", "OFFERS_DATA_DIR"),
    "model_dir": ("offers_model_dir", "OFFERS_MODEL_DIR"),
    "redis_url": ("offers_redis_url", "REDIS_URL"),
    "mlflow_tracking_uri": ("offers_mlflow_tracking_uri", "MLFLOW_TRACKING_URI"),
    "customers": ("offers_customers", "OFFERS_CUSTOMERS"),
    "offers": ("offers_offers", "OFFERS_OFFERS"),
    "seed": ("offers_seed", "OFFERS_SEED"),
}

DEFAULT_CUSTOMERS = "20000"
DEFAULT_SEED = "42"


class MissingSetting(Exception):
    """A setting the task needs is neither a Variable nor in the environment."""


def default_bin_dir() -> str:
    target = os.environ.get("CARGO_TARGET_DIR") or str(Path.home() / ".cache" / "offers-recsys" / "target")
    return str(Path(target) / "release")


def setting(name: str, required: bool = True) -> str:
    """A setting's value: the Airflow Variable, else the environment, else
    the built-in default; raises naming both sources when a required one is
    missing. Runs at task time, on the worker."""
    variable, env = SETTINGS[name]
    value = Variable.get(variable, default=None)
    if value in (None, ""):
        value = os.environ.get(env, "")
    if value == "":
        value = {"bin_dir": default_bin_dir(), "customers": DEFAULT_CUSTOMERS, "seed": DEFAULT_SEED}.get(name, "")
    if value == "" and required:
        raise MissingSetting(f"set the Airflow Variable `{variable}` or the environment variable {env}")
    return str(value)


def arg(name: str, required: bool = True) -> str:
    """A setting quoted for the shell."""
    return shlex.quote(setting(name, required))


def optional_flag(flag: str, name: str) -> str:
    """`flag value` when the setting is set, else nothing (the stage's default)."""
    value = setting(name, required=False)
    return f"{flag} {shlex.quote(value)}" if value else ""


def export_if_set(env: str, name: str) -> str:
    """A shell `export` line when the setting is set, else nothing: an empty
    variable is not the same as an unset one to the stages."""
    value = setting(name, required=False)
    return f"export {env}={shlex.quote(value)}\n" if value else ""


def gate_bars(names: list[str]) -> dict[str, float]:
    """Bars set as Variables (``offers_gate_<name>``) or in the environment."""
    bars = offer_quality.bars_from_env(names)
    for name in names:
        raw = Variable.get(f"offers_gate_{name}", default=None)
        if raw not in (None, ""):
            bars[name] = offer_quality.parse_bar(f"Variable offers_gate_{name}", str(raw))
    return bars


def quality_gate_features() -> None:
    offer_quality.feature_gate(Path(setting("data_dir")), gate_bars(offer_quality.FEATURE_BARS))


def quality_gate_model() -> None:
    offer_quality.model_gate(Path(setting("model_dir")), gate_bars(offer_quality.MODEL_BARS))


def stage_command(binary: str, package: str, args: str, env_prefix: str = "") -> str:
    """The shell of one stage task: check the binary, then exec it, so its
    stderr (the `error: ...` line included) streams into the task log and
    its exit code is the task's."""
    return f"""set -euo pipefail
bin={{{{ arg('bin_dir') }}}}/{binary}
if [[ ! -x "$bin" ]]; then
  echo "error: stage binary $bin is missing: build it with 'cargo build --release -p {package}'" \\
       "(or point the Variable offers_bin_dir / OFFERS_BIN_DIR at the folder holding it)" >&2
  exit 127
fi
{env_prefix}exec "$bin" {args}
"""


def stage(task_id: str, binary: str, args: str, env_prefix: str = "") -> BashOperator:
    return BashOperator(
        task_id=task_id,
        bash_command=stage_command(binary, binary, args, env_prefix),
        # Keep the task log plain text (tracing colours it on a terminal).
        env={"NO_COLOR": "1"},
        append_env=True,
    )


# Every stage takes the shared flags (entity resolution keeps its fitted
# model in the model folder too).
COMMON = "--data-dir {{ arg('data_dir') }} --model-dir {{ arg('model_dir') }} --seed {{ arg('seed') }}"

with DAG(
    dag_id="offer_pipeline",
    description="Synthetic data -> entity resolution -> features -> ranker -> Redis cache",
    doc_md=__doc__,
    schedule="@daily",
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    # Runs share one data and model folder: never two at once.
    max_active_runs=1,
    default_args={
        "retries": int(os.environ.get("OFFERS_DAG_RETRIES") or "2"),
        "retry_delay": timedelta(seconds=int(os.environ.get("OFFERS_DAG_RETRY_DELAY_SECONDS") or "300")),
        "execution_timeout": timedelta(hours=2),
    },
    user_defined_macros={"arg": arg, "optional_flag": optional_flag, "export_if_set": export_if_set},
    tags=["offers"],
) as dag:
    datagen = stage(
        "datagen",
        "datagen",
        COMMON
        + " --customers {{ arg('customers') }} {{ optional_flag('--offers', 'offers') }}",
    )
    entity_resolution = stage("entity_resolution", "entity-resolution", COMMON)
    features = stage("features", "features", COMMON)
    gate_features = PythonOperator(
        task_id="quality_gate_features",
        python_callable=quality_gate_features,
        retries=0,
    )
    train = stage(
        "train",
        "train",
        COMMON,
        # LightGBM's OpenMP threads sleep instead of spinning while they
        # wait: as fast alone, much faster beside other work on the worker.
        # MLFLOW_TRACKING_URI is unset (not empty) when no tracking server
        # is configured: train then records the run locally in the model
        # folder.
        env_prefix='export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"\n'
        "{{ export_if_set('MLFLOW_TRACKING_URI', 'mlflow_tracking_uri') }}",
    )
    gate_model = PythonOperator(
        task_id="quality_gate_model",
        python_callable=quality_gate_model,
        retries=0,
    )
    load_cache = stage("load_cache", "load-cache", COMMON + " --redis-url {{ arg('redis_url') }}")

    datagen >> entity_resolution >> features >> gate_features >> train >> gate_model >> load_cache
