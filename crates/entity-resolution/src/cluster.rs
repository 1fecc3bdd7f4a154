//! Clustering accepted pairs into people, with a guard against chains.
//!
//! Connected components of the accepted pairs (petgraph's `UnionFind`) are
//! the clusters, except that a weak link may not join two groups: a bridge
//! of the match graph (petgraph's `bridges`) whose weight is below
//! `chain_guard.max_weight` is cut when, after removing every such weak
//! bridge, both of its ends lie in groups of at least `min_side` records.
//! A single record hanging on by a weak link stays (that is an ordinary
//! duplicate with a typo); two groups of records held together by one weak
//! link are the pattern of a chain merging two people.

use petgraph::algo::bridges::bridges;
use petgraph::graph::{NodeIndex, UnGraph};
use petgraph::unionfind::UnionFind;
use serde::Serialize;

use crate::settings::ChainGuardSettings;

/// An accepted pair.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    pub a: u32,
    pub b: u32,
    pub weight: f32,
}

#[derive(Debug, Clone)]
pub struct Clustering {
    /// Per record: its cluster, numbered densely in order of first record.
    pub cluster_of: Vec<u32>,
    pub clusters: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct GuardStats {
    pub components_examined: usize,
    pub weak_bridges: usize,
    pub links_cut: usize,
}

fn components(n: usize, links: impl Iterator<Item = (u32, u32)>) -> Clustering {
    let mut uf = UnionFind::<u32>::new(n);
    for (a, b) in links {
        uf.union(a, b);
    }
    let labels = uf.into_labeling();
    let mut dense = vec![u32::MAX; n];
    let mut cluster_of = Vec::with_capacity(n);
    let mut next = 0u32;
    for &root in &labels {
        let slot = &mut dense[root as usize];
        if *slot == u32::MAX {
            *slot = next;
            next += 1;
        }
        cluster_of.push(*slot);
    }
    Clustering {
        cluster_of,
        clusters: next as usize,
    }
}

/// Plain connected components (no guard).
pub fn connected_components(n: usize, links: &[Link]) -> Clustering {
    components(n, links.iter().map(|l| (l.a, l.b)))
}

/// Connected components after the chain guard; also returns what it cut.
pub fn guarded_components(
    n: usize,
    links: &[Link],
    guard: &ChainGuardSettings,
    plain: &Clustering,
) -> (Clustering, GuardStats) {
    let mut stats = GuardStats::default();
    if !guard.enabled || links.is_empty() {
        return (plain.clone(), stats);
    }
    // Links grouped by component; only components that can hold two groups
    // of `min_side` records are examined.
    let mut sizes = vec![0usize; plain.clusters];
    for &c in &plain.cluster_of {
        sizes[c as usize] += 1;
    }
    let mut by_component: Vec<usize> = (0..links.len())
        .filter(|&i| {
            sizes[plain.cluster_of[links[i].a as usize] as usize] >= 2 * guard.min_side.max(1)
        })
        .collect();
    by_component.sort_unstable_by_key(|&i| plain.cluster_of[links[i].a as usize]);
    let mut cut = vec![false; links.len()];
    let mut local = vec![u32::MAX; n];
    let mut start = 0;
    while start < by_component.len() {
        let comp = plain.cluster_of[links[by_component[start]].a as usize];
        let mut end = start;
        while end < by_component.len()
            && plain.cluster_of[links[by_component[end]].a as usize] == comp
        {
            end += 1;
        }
        stats.components_examined += 1;
        examine_component(
            &by_component[start..end],
            links,
            guard,
            &mut local,
            &mut cut,
            &mut stats,
        );
        start = end;
    }
    let kept = links
        .iter()
        .zip(&cut)
        .filter(|(_, c)| !**c)
        .map(|(l, _)| (l.a, l.b));
    (components(n, kept), stats)
}

fn examine_component(
    members: &[usize],
    links: &[Link],
    guard: &ChainGuardSettings,
    local: &mut [u32],
    cut: &mut [bool],
    stats: &mut GuardStats,
) {
    let mut graph: UnGraph<u32, usize> = UnGraph::default();
    for &i in members {
        for r in [links[i].a, links[i].b] {
            if local[r as usize] == u32::MAX {
                local[r as usize] = graph.add_node(r).index() as u32;
            }
        }
    }
    for &i in members {
        let (a, b) = (local[links[i].a as usize], local[links[i].b as usize]);
        graph.add_edge(NodeIndex::new(a as usize), NodeIndex::new(b as usize), i);
    }
    let mut weak: Vec<usize> = bridges(&graph)
        .map(|e| *e.weight())
        .filter(|&i| f64::from(links[i].weight) < guard.max_weight)
        .collect();
    weak.sort_unstable();
    if !weak.is_empty() {
        stats.weak_bridges += weak.len();
        // Groups left when every weak bridge is removed.
        let nodes = graph.node_count();
        let mut uf = UnionFind::<u32>::new(nodes);
        for &i in members {
            if weak.binary_search(&i).is_err() {
                uf.union(local[links[i].a as usize], local[links[i].b as usize]);
            }
        }
        let mut group_size = vec![0usize; nodes];
        for v in 0..nodes as u32 {
            group_size[uf.find(v) as usize] += 1;
        }
        for &i in &weak {
            let ga = uf.find(local[links[i].a as usize]) as usize;
            let gb = uf.find(local[links[i].b as usize]) as usize;
            if group_size[ga] >= guard.min_side && group_size[gb] >= guard.min_side {
                cut[i] = true;
                stats.links_cut += 1;
            }
        }
    }
    for r in graph.node_weights() {
        local[*r as usize] = u32::MAX;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(a: u32, b: u32, weight: f32) -> Link {
        Link { a, b, weight }
    }

    #[test]
    fn weak_bridge_between_two_groups_is_cut() {
        // 0-1 strong, 2-3 strong, 1-2 weak: two people chained.
        let links = [
            link(0, 1, 20.0),
            link(2, 3, 20.0),
            link(1, 2, 4.0),
            link(4, 5, 3.0),
        ];
        let plain = connected_components(6, &links);
        assert_eq!(plain.clusters, 2);
        let guard = ChainGuardSettings {
            enabled: true,
            max_weight: 8.0,
            min_side: 2,
        };
        let (guarded, stats) = guarded_components(6, &links, &guard, &plain);
        assert_eq!(stats.links_cut, 1);
        assert_eq!(guarded.clusters, 3);
        assert_eq!(guarded.cluster_of[0], guarded.cluster_of[1]);
        assert_ne!(guarded.cluster_of[1], guarded.cluster_of[2]);
        // A weak single pair stays linked.
        assert_eq!(guarded.cluster_of[4], guarded.cluster_of[5]);
    }

    #[test]
    fn weak_link_of_a_single_record_stays() {
        let links = [link(0, 1, 20.0), link(1, 2, 20.0), link(2, 3, 4.0)];
        let plain = connected_components(4, &links);
        let guard = ChainGuardSettings::default();
        let (guarded, stats) = guarded_components(4, &links, &guard, &plain);
        assert_eq!(stats.links_cut, 0);
        assert_eq!(guarded.clusters, 1);
    }
}
