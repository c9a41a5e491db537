//! Estimation of the m/u table from unlabelled comparisons, as Splink does:
//! `u` from random pairs (almost all non-matches: [`crate::Matcher::random_pairs`]),
//! then `m` and the match share by expectation–maximisation (Winkler 1988)
//! on blocked candidate pairs ([`crate::Matcher::blocked_pairs`]) with `u`
//! held fixed, assuming fields independent given match status. Left free,
//! EM on blocked pairs finds whatever splits them best (Hanzi sent or not),
//! not match status; pinning `u` keeps the non-match class honest.

use crate::compare::{ALL_FIELDS, Comparison, Level, Mu, Weights};
use std::collections::HashMap;

/// Result of [`estimate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// Re-estimated weights (levels never observed keep their start value).
    pub weights: Weights,
    /// Estimated share of pairs that are matches.
    pub match_share: f64,
    /// Iterations run.
    pub iterations: usize,
}

const FLOOR: f64 = 1e-6;

/// Estimate `u` from `random` pairs, then `m` and the match share by EM on
/// `blocked` pairs for at most `max_iterations` (stopping when no `m` moves
/// by more than 1e-6). Levels seen in neither keep their `start` values.
pub fn estimate(blocked: &[Comparison], random: &[Comparison], start: &Weights, max_iterations: usize) -> Estimate {
    let mut weights = start.clone();
    estimate_u(random, &mut weights);
    let mut groups: HashMap<Comparison, f64> = HashMap::new();
    for c in blocked {
        *groups.entry(*c).or_default() += 1.0;
    }
    let groups: Vec<(Comparison, f64)> = groups.into_iter().collect();
    let total: f64 = groups.iter().map(|(_, n)| n).sum();
    let mut p: f64 = 0.1;
    let mut iterations = 0;
    while iterations < max_iterations && !groups.is_empty() {
        iterations += 1;
        // E: posterior match probability of each distinct comparison.
        let posts: Vec<f64> = groups
            .iter()
            .map(|(c, _)| {
                let (mut lm, mut lu) = (p.ln(), (1.0 - p).ln());
                for f in ALL_FIELDS {
                    if let Some(mu) = weights.get(f, c.level(f)) {
                        lm += mu.m.ln();
                        lu += mu.u.ln();
                    }
                }
                1.0 / (1.0 + (lu - lm).exp())
            })
            .collect();
        // M: the match share and, per field, the level frequencies among matches.
        p = (groups.iter().zip(&posts).map(|((_, n), g)| n * g).sum::<f64>() / total).clamp(FLOOR, 1.0 - FLOOR);
        let mut moved: f64 = 0.0;
        for f in ALL_FIELDS {
            let mut sums: HashMap<Level, f64> = HashMap::new();
            let mut all = 0.0;
            for ((c, n), g) in groups.iter().zip(&posts) {
                if weights.get(f, c.level(f)).is_some() {
                    *sums.entry(c.level(f)).or_default() += n * g;
                    all += n * g;
                }
            }
            if all <= 0.0 {
                continue;
            }
            for (level, sum) in sums {
                let old = weights.get(f, level).expect("filtered above");
                let m = (sum / all).clamp(FLOOR, 1.0 - FLOOR);
                moved = moved.max((m - old.m).abs());
                weights.set(f, level, Mu { m, u: old.u }).expect("level applicable and clamped");
            }
        }
        if moved < 1e-6 {
            break;
        }
    }
    Estimate { weights, match_share: p, iterations }
}

/// `u` of every level as its share among the random pairs where the field
/// is present (half a pair when never seen, so no weight is infinite).
fn estimate_u(random: &[Comparison], weights: &mut Weights) {
    for f in ALL_FIELDS {
        let mut counts: HashMap<Level, f64> = HashMap::new();
        let mut all = 0.0;
        for c in random {
            if weights.get(f, c.level(f)).is_some() {
                *counts.entry(c.level(f)).or_default() += 1.0;
                all += 1.0;
            }
        }
        if all < 1.0 {
            continue;
        }
        let levels: Vec<(Level, Mu)> = weights.entries().filter(|(field, _, _)| *field == f).map(|(_, l, mu)| (l, mu)).collect();
        for (level, mu) in levels {
            let u = (counts.get(&level).copied().unwrap_or(0.0).max(0.5) / all).clamp(FLOOR, 1.0 - FLOOR);
            weights.set(f, level, Mu { m: mu.m, u }).expect("level applicable and clamped");
        }
    }
}
