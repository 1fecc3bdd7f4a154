//! Evaluation against ground truth (when there is one) and the run report:
//! `er_report.json` and the printed table.

use std::collections::HashMap;
use std::fmt;

use pipeline_core::quality::TableQuality;
use serde::Serialize;

use crate::blocking::RuleStats;
use crate::clean::FxBuild;
use crate::cluster::GuardStats;
use crate::fellegi_sunter::Model;
use crate::plan::ComparisonPlan;

/// The true person of every record, for evaluation only.
#[derive(Debug, Clone)]
pub struct Truth {
    pub entity: Vec<u32>,
    /// Per record: index into `kind_names`, when the truth names kinds.
    pub kind: Option<Vec<u8>>,
    pub kind_names: Vec<String>,
}

/// The duplicate kind that is the same person with nothing in common:
/// reported apart, not expected to be found.
pub const ID_ERROR: &str = "id_error";

impl Truth {
    fn excluded(&self) -> Vec<bool> {
        let n = self.entity.len();
        match (
            &self.kind,
            self.kind_names.iter().position(|k| k == ID_ERROR),
        ) {
            (Some(kind), Some(id_error)) => {
                kind.iter().map(|&k| usize::from(k) == id_error).collect()
            }
            _ => vec![false; n],
        }
    }

    /// True pairs in total and among `pairs`, counting every record and
    /// without the unfindable (id_error) records.
    pub fn pair_completeness(&self, pairs: &[u64]) -> (f64, f64) {
        let excluded = self.excluded();
        let mut found = [0u64; 2];
        for &p in pairs {
            let (a, b) = crate::blocking::unpack(p);
            if self.entity[a] == self.entity[b] {
                found[0] += 1;
                if !excluded[a] && !excluded[b] {
                    found[1] += 1;
                }
            }
        }
        let all = true_pairs(&self.entity, None);
        let findable = true_pairs(&self.entity, Some(&excluded));
        (ratio(found[0], all), ratio(found[1], findable))
    }
}

fn true_pairs(entity: &[u32], excluded: Option<&[bool]>) -> u64 {
    let mut sizes: HashMap<u32, u64, FxBuild> = HashMap::default();
    for (r, &e) in entity.iter().enumerate() {
        if excluded.is_some_and(|x| x[r]) {
            continue;
        }
        *sizes.entry(e).or_insert(0) += 1;
    }
    sizes.values().map(|&s| s * s.saturating_sub(1) / 2).sum()
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

/// Quality of one duplicate kind.
#[derive(Debug, Clone, Serialize)]
pub struct KindQuality {
    pub kind: String,
    pub records: usize,
    /// Share of these records in a cluster with another record of their
    /// own person (the recall of a duplicate kind).
    pub linked_to_own_person: f64,
    /// Share of these records in a cluster with a record of another person
    /// (the false-merge rate of collisions and shared contacts).
    pub merged_with_other_person: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Quality {
    pub pairwise_precision: f64,
    pub pairwise_recall: f64,
    pub pairwise_f1: f64,
    /// Recall and F1 without the id_error records (same person, nothing in
    /// common), which are not expected to be found.
    pub pairwise_recall_findable: f64,
    pub pairwise_f1_findable: f64,
    pub true_pairs: u64,
    pub predicted_pairs: u64,
    pub correct_pairs: u64,
    pub bcubed_precision: f64,
    pub bcubed_recall: f64,
    /// People with several records whose records ended in several clusters.
    pub people_split_share: f64,
    /// Clusters of several records that mix people.
    pub clusters_mixing_people_share: f64,
    pub by_kind: Vec<KindQuality>,
}

/// Compares a clustering with the truth.
pub fn evaluate(cluster_of: &[u32], truth: &Truth) -> Quality {
    let n = cluster_of.len();
    let key = |r: usize| (u64::from(cluster_of[r]) << 32) | u64::from(truth.entity[r]);
    let mut joint: HashMap<u64, u64, FxBuild> = HashMap::default();
    let mut cluster_size: HashMap<u32, u64, FxBuild> = HashMap::default();
    let mut entity_size: HashMap<u32, u64, FxBuild> = HashMap::default();
    for (r, (&cluster, &entity)) in cluster_of.iter().zip(&truth.entity).enumerate() {
        *joint.entry(key(r)).or_insert(0) += 1;
        *cluster_size.entry(cluster).or_insert(0) += 1;
        *entity_size.entry(entity).or_insert(0) += 1;
    }
    let pairs = |s: u64| s * s.saturating_sub(1) / 2;
    let correct: u64 = joint.values().map(|&s| pairs(s)).sum();
    let predicted: u64 = cluster_size.values().map(|&s| pairs(s)).sum();
    let true_total: u64 = entity_size.values().map(|&s| pairs(s)).sum();
    let (mut bp, mut br) = (0.0, 0.0);
    let mut clusters_of_entity: HashMap<u32, u32, FxBuild> = HashMap::default();
    let mut entities_of_cluster: HashMap<u32, u32, FxBuild> = HashMap::default();
    for (&k, &s) in &joint {
        let (c, e) = ((k >> 32) as u32, (k & 0xffff_ffff) as u32);
        let s = s as f64;
        bp += s * s / cluster_size[&c] as f64;
        br += s * s / entity_size[&e] as f64;
        *clusters_of_entity.entry(e).or_insert(0) += 1;
        *entities_of_cluster.entry(c).or_insert(0) += 1;
    }
    let multi_people = entity_size.values().filter(|&&s| s >= 2).count();
    let split = entity_size
        .iter()
        .filter(|&(e, &s)| s >= 2 && clusters_of_entity[e] > 1)
        .count();
    let multi_clusters = cluster_size.values().filter(|&&s| s >= 2).count();
    let mixing = cluster_size
        .iter()
        .filter(|&(c, &s)| s >= 2 && entities_of_cluster[c] > 1)
        .count();

    // Findable: the same figures with id_error records left out.
    let excluded = truth.excluded();
    let mut joint_f: HashMap<u64, u64, FxBuild> = HashMap::default();
    for r in (0..n).filter(|&r| !excluded[r]) {
        *joint_f.entry(key(r)).or_insert(0) += 1;
    }
    let correct_f: u64 = joint_f.values().map(|&s| pairs(s)).sum();
    let true_f = true_pairs(&truth.entity, Some(&excluded));

    let mut by_kind = Vec::new();
    if let Some(kind) = &truth.kind {
        for (k, name) in truth.kind_names.iter().enumerate() {
            let records: Vec<usize> = (0..n).filter(|&r| usize::from(kind[r]) == k).collect();
            if records.is_empty() {
                continue;
            }
            let own = records.iter().filter(|&&r| joint[&key(r)] > 1).count();
            let merged = records
                .iter()
                .filter(|&&r| cluster_size[&cluster_of[r]] > joint[&key(r)])
                .count();
            by_kind.push(KindQuality {
                kind: name.clone(),
                records: records.len(),
                linked_to_own_person: own as f64 / records.len() as f64,
                merged_with_other_person: merged as f64 / records.len() as f64,
            });
        }
    }
    let precision = ratio(correct, predicted);
    let recall = ratio(correct, true_total);
    let recall_f = ratio(correct_f, true_f);
    Quality {
        pairwise_precision: precision,
        pairwise_recall: recall,
        pairwise_f1: f1(precision, recall),
        pairwise_recall_findable: recall_f,
        pairwise_f1_findable: f1(precision, recall_f),
        true_pairs: true_total,
        predicted_pairs: predicted,
        correct_pairs: correct,
        bcubed_precision: bp / n.max(1) as f64,
        bcubed_recall: br / n.max(1) as f64,
        people_split_share: ratio(split as u64, multi_people as u64).min(1.0)
            * f64::from(u8::from(multi_people > 0)),
        clusters_mixing_people_share: ratio(mixing as u64, multi_clusters as u64).min(1.0)
            * f64::from(u8::from(multi_clusters > 0)),
        by_kind,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BlockingReport {
    pub rules: Vec<RuleStats>,
    pub candidate_pairs: u64,
    pub all_pairs: f64,
    /// 1 - candidate pairs / all pairs.
    pub reduction_ratio: f64,
    /// Share of true pairs among the candidates (when truth exists).
    pub pairs_completeness: Option<f64>,
    pub pairs_completeness_findable: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PhaseTiming {
    pub phase: &'static str,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChainGuardReport {
    pub enabled: bool,
    pub max_weight: f64,
    pub min_side: usize,
    #[serde(flatten)]
    pub stats: GuardStats,
    pub clusters_without_guard: usize,
    /// The same evaluation without the guard, to show whether it matters.
    pub quality_without_guard: Option<Quality>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub input: String,
    pub output_dir: String,
    /// Records resolved: those of the input the screen kept.
    pub records: usize,
    /// What the data-quality screen of `customers_raw` found (`None`: an
    /// `--input` table, which is not screened).
    pub data_quality: Option<TableQuality>,
    /// Where the rejected records were written, when there were any.
    pub rejects_file: Option<String>,
    /// The fields compared.
    pub fields: Vec<String>,
    /// How records were resolved, and the comparisons and blocking rules
    /// used and dropped.
    pub resolution: ComparisonPlan,
    pub blocking: BlockingReport,
    /// `None` when nothing was compared (no model).
    pub model_path: Option<String>,
    pub model_reused: bool,
    pub model: Option<Model>,
    pub match_threshold: f64,
    pub linked_pairs: u64,
    pub clusters: usize,
    pub multi_record_clusters: usize,
    pub largest_cluster: usize,
    pub chain_guard: ChainGuardReport,
    pub quality: Option<Quality>,
    pub timings: Vec<PhaseTiming>,
    pub total_seconds: f64,
    pub records_per_second: f64,
    /// Candidate pairs compared per second of the comparison phase.
    pub pairs_compared_per_second: f64,
    pub peak_rss_bytes: Option<u64>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "entity resolution: {} -> {}",
            self.input, self.output_dir
        )?;
        writeln!(f, "  {:<34} {:>14}", "records", self.records)?;
        if let Some(q) = self
            .data_quality
            .as_ref()
            .filter(|q| q.rejected + q.cleared > 0)
        {
            writeln!(f, "  {:<34} {}", "data quality", q.breakdown())?;
        }
        writeln!(f, "  {}", self.resolution)?;
        writeln!(
            f,
            "  {:<34} {:>14}",
            "candidate pairs", self.blocking.candidate_pairs
        )?;
        writeln!(
            f,
            "  {:<34} {:>14.8}",
            "reduction ratio", self.blocking.reduction_ratio
        )?;
        if let Some(pc) = self.blocking.pairs_completeness {
            writeln!(f, "  {:<34} {:>14.5}", "pairs completeness", pc)?;
        }
        if let Some(pc) = self.blocking.pairs_completeness_findable {
            writeln!(f, "  {:<34} {:>14.5}", "pairs completeness (findable)", pc)?;
        }
        for r in &self.blocking.rules {
            writeln!(
                f,
                "    rule {:<24} {:>10} pairs, {} blocks, largest {}, {} oversized ({} records, {} pairs capped)",
                r.rule,
                r.pairs,
                r.blocks,
                r.largest_block,
                r.oversized_blocks,
                r.oversized_records,
                r.pairs_skipped_by_cap
            )?;
        }
        match &self.model {
            Some(model) => write_model(f, model, self.model_reused)?,
            None => writeln!(f, "  {:<34} {:>14}", "model", "none")?,
        }
        writeln!(f, "  {:<34} {:>14}", "linked pairs", self.linked_pairs)?;
        writeln!(f, "  {:<34} {:>14}", "clusters (people)", self.clusters)?;
        writeln!(
            f,
            "  {:<34} {:>14}",
            "multi-record clusters", self.multi_record_clusters
        )?;
        writeln!(
            f,
            "  {:<34} {:>14}",
            "largest cluster", self.largest_cluster
        )?;
        writeln!(
            f,
            "  {:<34} {:>14}",
            "chain guard links cut", self.chain_guard.stats.links_cut
        )?;
        if let Some(q) = &self.quality {
            write_quality(f, "", q)?;
            if let Some(q0) = &self.chain_guard.quality_without_guard {
                writeln!(
                    f,
                    "  {:<34} {:>14}",
                    "without chain guard: P / R / F1",
                    format!(
                        "{:.4} / {:.4} / {:.4}",
                        q0.pairwise_precision, q0.pairwise_recall, q0.pairwise_f1
                    )
                )?;
            }
        }
        for t in &self.timings {
            writeln!(
                f,
                "  {:<34} {:>14.2}",
                format!("seconds: {}", t.phase),
                t.seconds
            )?;
        }
        writeln!(f, "  {:<34} {:>14.2}", "seconds: total", self.total_seconds)?;
        writeln!(
            f,
            "  {:<34} {:>14.0}",
            "records per second", self.records_per_second
        )?;
        writeln!(
            f,
            "  {:<34} {:>14.0}",
            "pairs compared per second", self.pairs_compared_per_second
        )?;
        if let Some(b) = self.peak_rss_bytes {
            writeln!(f, "  {:<34} {:>14.3}", "peak memory (GB)", b as f64 / 1e9)?;
        }
        Ok(())
    }
}

fn write_model(f: &mut fmt::Formatter<'_>, model: &Model, reused: bool) -> fmt::Result {
    writeln!(
        f,
        "  {:<34} {:>14}",
        "model",
        if reused { "reused" } else { "trained" }
    )?;
    writeln!(f, "  {:<34} {:>14.6}", "lambda (match prior)", model.lambda)?;
    writeln!(
        f,
        "  {:<34} {:>14}",
        "EM iterations",
        format!(
            "{}{}",
            model.em_iterations,
            if model.em_converged { "" } else { " (cap)" }
        )
    )?;
    for class in &model.classes {
        writeln!(f, "    class {:<28} {:>14.6}", class.name, class.share)?;
    }
    Ok(())
}

fn write_quality(f: &mut fmt::Formatter<'_>, _prefix: &str, q: &Quality) -> fmt::Result {
    let row =
        |f: &mut fmt::Formatter<'_>, name: &str, v: f64| writeln!(f, "  {name:<34} {v:>14.5}");
    row(f, "pairwise precision", q.pairwise_precision)?;
    row(f, "pairwise recall", q.pairwise_recall)?;
    row(f, "pairwise F1", q.pairwise_f1)?;
    row(f, "pairwise recall (findable)", q.pairwise_recall_findable)?;
    row(f, "pairwise F1 (findable)", q.pairwise_f1_findable)?;
    row(f, "B-cubed precision", q.bcubed_precision)?;
    row(f, "B-cubed recall", q.bcubed_recall)?;
    row(f, "people split across clusters", q.people_split_share)?;
    row(f, "clusters mixing people", q.clusters_mixing_people_share)?;
    for k in &q.by_kind {
        writeln!(
            f,
            "    kind {:<16} {:>9} records, linked to own person {:.4}, merged with another {:.4}",
            k.kind, k.records, k.linked_to_own_person, k.merged_with_other_person
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_merged_clusterings() {
        let truth = Truth {
            entity: vec![0, 0, 1, 2],
            kind: Some(vec![0, 1, 0, 2]),
            kind_names: vec![
                "original".into(),
                "true_dup".into(),
                "name_collision".into(),
            ],
        };
        let q = evaluate(&[5, 5, 6, 7], &truth);
        assert_eq!(q.pairwise_precision, 1.0);
        assert_eq!(q.pairwise_recall, 1.0);
        let q = evaluate(&[0, 0, 1, 1], &truth);
        assert_eq!(q.pairwise_precision, 0.5);
        assert_eq!(q.clusters_mixing_people_share, 0.5);
        let collision = q.by_kind.iter().find(|k| k.kind == "name_collision");
        assert_eq!(collision.map(|k| k.merged_with_other_person), Some(1.0));
    }
}
