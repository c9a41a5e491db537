//! Expectation–maximisation of the m/u table from unlabelled comparisons
//! (Winkler 1988; what OpenEMPI and Splink do), assuming fields independent
//! given match status. Feed it the comparisons of blocked candidate pairs
//! ([`crate::Matcher::blocked_pairs`]); start from [`Weights::default`].

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

/// Run EM for at most `max_iterations`, stopping when no probability moves by
/// more than 1e-6. Returns the start weights unchanged for no comparisons.
pub fn estimate(comparisons: &[Comparison], start: &Weights, max_iterations: usize) -> Estimate {
    let mut groups: HashMap<Comparison, f64> = HashMap::new();
    for c in comparisons {
        *groups.entry(*c).or_default() += 1.0;
    }
    let groups: Vec<(Comparison, f64)> = groups.into_iter().collect();
    let total: f64 = groups.iter().map(|(_, n)| n).sum();
    let mut weights = start.clone();
    let mut p = 0.1;
    let mut iterations = 0;
    if groups.is_empty() {
        return Estimate { weights, match_share: p, iterations };
    }
    while iterations < max_iterations {
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
        // M: new match share and per-field level frequencies.
        let new_p = groups.iter().zip(&posts).map(|((_, n), g)| n * g).sum::<f64>() / total;
        let mut moved = (new_p - p).abs();
        p = new_p.clamp(FLOOR, 1.0 - FLOOR);
        for f in ALL_FIELDS {
            let mut m_sum: HashMap<Level, f64> = HashMap::new();
            let mut u_sum: HashMap<Level, f64> = HashMap::new();
            let (mut m_all, mut u_all) = (0.0, 0.0);
            for ((c, n), g) in groups.iter().zip(&posts) {
                let level = c.level(f);
                if weights.get(f, level).is_none() {
                    continue;
                }
                *m_sum.entry(level).or_default() += n * g;
                *u_sum.entry(level).or_default() += n * (1.0 - g);
                m_all += n * g;
                u_all += n * (1.0 - g);
            }
            for (level, ms) in m_sum {
                let (Some(old), true) = (weights.get(f, level), m_all > 0.0 && u_all > 0.0) else { continue };
                let m = (ms / m_all).clamp(FLOOR, 1.0 - FLOOR);
                let u = (u_sum[&level] / u_all).clamp(FLOOR, 1.0 - FLOOR);
                moved = moved.max((m - old.m).abs()).max((u - old.u).abs());
                weights.set(f, level, Mu { m, u }).expect("level applicable and clamped");
            }
        }
        if moved < 1e-6 {
            break;
        }
    }
    Estimate { weights, match_share: p, iterations }
}
