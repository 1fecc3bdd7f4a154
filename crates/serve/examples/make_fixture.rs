//! Writes the service's synthetic fixture (data + a LightGBM model) for the
//! benchmark script, and optionally loads it into Redis through the
//! feature-store writer.
//!
//! `make_fixture DIR [--customers N] [--trees T] [--leaves L] [--redis-url URL]`
//! writes DIR/data, DIR/models and DIR/ids.txt (customer and record ids).
//! `make_fixture --list-ids DATA_DIR` prints the customer and record ids of
//! a pipeline data directory's `entity_map.parquet` instead.

#![allow(clippy::print_stdout)]

use std::io::Write;

use anyhow::Context;
use serve::fixture::{FixtureSpec, write_fixture};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    if std::env::args().nth(1).as_deref() == Some("--list-ids") {
        let data_dir =
            std::path::PathBuf::from(std::env::args().nth(2).context("--list-ids DATA_DIR")?);
        let map =
            pipeline_core::table_io::read_table(&data_dir, &pipeline_core::schema::ENTITY_MAP)?;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for column in ["customer_id", "record_id"] {
            let mut ids: Vec<&str> = map.column(column)?.str()?.iter().flatten().collect();
            ids.sort_unstable();
            ids.dedup();
            for id in ids {
                writeln!(out, "{id}")?;
            }
        }
        return Ok(());
    }
    let dir = std::path::PathBuf::from(args.next().context(
        "usage: make_fixture DIR [--customers N] [--trees T] [--leaves L] [--redis-url URL]",
    )?);
    let mut spec = FixtureSpec {
        customers: 20_000,
        trees: 300,
        num_leaves: 31,
        ..FixtureSpec::default()
    };
    let mut redis_url = None;
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--customers" => spec.customers = value.parse()?,
            "--trees" => spec.trees = value.parse()?,
            "--leaves" => spec.num_leaves = value.parse()?,
            "--redis-url" => redis_url = Some(value),
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    let data = write_fixture(&dir, &spec)?;
    let mut ids = std::io::BufWriter::new(std::fs::File::create(dir.join("ids.txt"))?);
    for id in data
        .customer_ids
        .iter()
        .chain(data.records.iter().map(|(r, _)| r))
    {
        writeln!(ids, "{id}")?;
    }
    ids.flush()?;
    if let Some(url) = redis_url {
        let tables = feature_store::CustomerTables::read(&dir.join("data"))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let report = rt.block_on(async {
            let loader = feature_store::GenerationLoader::connect(
                &url,
                1,
                feature_store::RedisTimeouts::default(),
            )
            .await?;
            loader
                .load(&tables, Some(spec.model_version.clone()), |_| {})
                .await
        })?;
        println!(
            "loaded generation {} ({} customers, {} aliases) into {url}",
            report.generation, report.customers, report.aliases
        );
    }
    println!(
        "fixture: {} customers, {} trees x {} leaves in {}",
        spec.customers,
        spec.trees,
        spec.num_leaves,
        dir.display()
    );
    Ok(())
}
