//! The split of a plan's cells into shards: deterministic (the plan alone decides it), disjoint
//! and complete, balanced by the cells' expected cost.
//!
//! Longest processing time first: cells in decreasing expected cost (ties in plan order), each
//! to the shard whose expected total grows least (ties to the lowest shard). A shard pays, besides
//! its cells, for the FP32 cells it must measure as references without owning them (a quantized
//! cell's accuracy change and fidelity are against FP32 on the same backend, batch and threads),
//! so cells of one backend tend to stay together when that is as balanced. The cells of a
//! technique whose quantizing is expensive (an accuracy search) are placed together, as one unit,
//! so that one shard pays for it.

use std::collections::BTreeSet;

/// One cell of a plan, with what it costs and which FP32 cells (by plan index) it needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    pub cost: f64,
    /// Plan indices of the FP32 cells this cell's results depend on.
    pub needs: Vec<usize>,
    /// Its technique (an index into the quantization costs): a shard quantizes each technique of
    /// its cells once.
    pub technique: usize,
}

/// Shard (0-based) of each cell, and each shard's expected cost including its references.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    pub shard_of: Vec<usize>,
    pub cost: Vec<f64>,
}

/// Splits `jobs` into `count` shards. `reference_cost[i]` is what measuring cell `i` as a
/// reference costs a shard that does not own it (used for the cells that others need);
/// `quantize_cost[t]` what quantizing technique `t` costs a shard. The cells of a technique
/// whose quantizing costs anything go to one shard together, which pays for it once.
pub fn split(jobs: &[Job], reference_cost: &[f64], quantize_cost: &[f64], count: usize) -> Split {
    let count = count.max(1);
    let quantize = |t: usize| quantize_cost.get(t).copied().unwrap_or(0.0);
    // Units of assignment: such a technique's cells together, every other cell alone.
    let mut units: Vec<Vec<usize>> = Vec::new();
    let mut unit_of_technique: std::collections::HashMap<usize, usize> = Default::default();
    for (i, j) in jobs.iter().enumerate() {
        if quantize(j.technique) > 0.0 {
            let u = *unit_of_technique.entry(j.technique).or_insert_with(|| {
                units.push(Vec::new());
                units.len() - 1
            });
            units[u].push(i);
        } else {
            units.push(vec![i]);
        }
    }
    let unit_cost = |u: &[usize]| -> f64 {
        u.iter().map(|&i| jobs[i].cost).sum::<f64>() + quantize(jobs[u[0]].technique)
    };
    let mut order: Vec<usize> = (0..units.len()).collect();
    order.sort_by(|&a, &b| {
        unit_cost(&units[b])
            .total_cmp(&unit_cost(&units[a]))
            .then(units[a][0].cmp(&units[b][0]))
    });
    let mut owned: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); count];
    let mut refs: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); count];
    let mut load = vec![0.0; count];
    let mut shard_of = vec![0; jobs.len()];
    for u in order {
        let unit = &units[u];
        // What giving the unit to shard `s` adds to that shard.
        let added = |s: usize| {
            let needed: BTreeSet<usize> = unit
                .iter()
                .flat_map(|&i| jobs[i].needs.iter().copied())
                .filter(|n| !unit.contains(n) && !owned[s].contains(n) && !refs[s].contains(n))
                .collect();
            let new_refs: f64 = needed.iter().map(|&n| reference_cost[n]).sum();
            // Owning a cell this shard measured as a reference saves that reference.
            let saved: f64 = unit
                .iter()
                .filter(|i| refs[s].contains(i))
                .map(|&i| reference_cost[i])
                .sum();
            unit_cost(unit) + new_refs - saved
        };
        let best = (0..count)
            .min_by(|&a, &b| {
                (load[a] + added(a))
                    .total_cmp(&(load[b] + added(b)))
                    .then(a.cmp(&b))
            })
            .expect("at least one shard");
        load[best] += added(best);
        for &i in unit {
            refs[best].remove(&i);
            owned[best].insert(i);
            shard_of[i] = best;
        }
        for &i in unit {
            for &n in &jobs[i].needs {
                if !owned[best].contains(&n) {
                    refs[best].insert(n);
                }
            }
        }
    }
    Split {
        shard_of,
        cost: load,
    }
}

/// The FP32 cells shard `shard` must measure as references: needed by its cells, owned by
/// another shard.
pub fn references(jobs: &[Job], shard_of: &[usize], shard: usize) -> BTreeSet<usize> {
    jobs.iter()
        .enumerate()
        .filter(|(i, _)| shard_of[*i] == shard)
        .flat_map(|(_, j)| j.needs.iter().copied())
        .filter(|&n| shard_of[n] != shard)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plan like resnet's: FP32 then 20 techniques on three backends, FP32 needed per backend.
    fn plan() -> (Vec<Job>, Vec<f64>) {
        // (quantizing costs are in `QUANTIZE`: technique 5 runs an expensive search)
        let backend_cost = [1.0, 13.0, 16.0];
        let mut jobs = Vec::new();
        for t in 0..21 {
            for (b, c) in backend_cost.iter().enumerate() {
                let format = 1.0 + (t % 4) as f64;
                let needs = if t == 0 { vec![0] } else { vec![b] };
                jobs.push(Job {
                    cost: 2.0 + c * format,
                    needs,
                    technique: t,
                });
            }
        }
        let refs = jobs.iter().map(|j| j.cost * 0.8).collect();
        (jobs, refs)
    }

    #[test]
    fn deterministic_disjoint_complete_and_balanced() {
        let (jobs, refs) = plan();
        for n in 1..=6 {
            let s = split(&jobs, &refs, &QUANTIZE, n);
            assert_eq!(s, split(&jobs, &refs, &QUANTIZE, n), "deterministic");
            assert_eq!(
                s.shard_of.len(),
                jobs.len(),
                "every cell in exactly one shard"
            );
            assert!(s.shard_of.iter().all(|&k| k < n));
            for k in 0..n {
                assert!(s.shard_of.contains(&k), "shard {k} of {n} is empty");
            }
            // Each shard's cost is its cells plus its references, recomputed independently.
            for k in 0..n {
                let own: f64 = (0..jobs.len())
                    .filter(|&i| s.shard_of[i] == k)
                    .map(|i| jobs[i].cost)
                    .sum();
                let r: f64 = references(&jobs, &s.shard_of, k)
                    .iter()
                    .map(|&i| refs[i])
                    .sum();
                let techniques: BTreeSet<usize> = (0..jobs.len())
                    .filter(|&i| s.shard_of[i] == k)
                    .map(|i| jobs[i].technique)
                    .collect();
                let q: f64 = techniques.iter().map(|&t| QUANTIZE[t]).sum();
                assert!(
                    (s.cost[k] - own - r - q).abs() < 1e-9,
                    "shard {k}: {}",
                    s.cost[k]
                );
            }
            let mean = s.cost.iter().sum::<f64>() / n as f64;
            for c in &s.cost {
                assert!(
                    (c - mean).abs() <= 0.2 * mean,
                    "{n} shards: {:?} not within 20% of {mean}",
                    s.cost
                );
            }
        }
    }

    /// Technique 5's quantizing (an accuracy search) costs as much as a slow cell.
    const QUANTIZE: [f64; 21] = {
        let mut q = [0.1; 21];
        q[5] = 40.0;
        q
    };

    #[test]
    fn an_expensive_quantization_is_paid_once() {
        let (jobs, refs) = plan();
        let s = split(&jobs, &refs, &QUANTIZE, 3);
        let shards: BTreeSet<usize> = (0..jobs.len())
            .filter(|&i| jobs[i].technique == 5)
            .map(|i| s.shard_of[i])
            .collect();
        assert_eq!(shards.len(), 1, "technique 5's cells share one shard");
    }

    #[test]
    fn one_shard_has_everything_and_needs_no_reference() {
        let (jobs, refs) = plan();
        let s = split(&jobs, &refs, &QUANTIZE, 1);
        assert!(s.shard_of.iter().all(|&k| k == 0));
        assert!(references(&jobs, &s.shard_of, 0).is_empty());
    }

    #[test]
    fn expensive_cells_spread_out() {
        let jobs: Vec<Job> = [10.0, 10.0, 10.0, 1.0, 1.0, 1.0]
            .iter()
            .enumerate()
            .map(|(technique, &cost)| Job {
                cost,
                needs: vec![],
                technique,
            })
            .collect();
        let s = split(&jobs, &[0.0; 6], &[0.0; 6], 3);
        assert_eq!(s.cost, vec![11.0, 11.0, 11.0]);
    }
}
