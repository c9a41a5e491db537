//! Estimation of the m/u table from unlabelled comparisons, as Splink does:
//! `u` from random pairs (almost all non-matches: [`crate::Matcher::random_pairs`]),
//! then `m` by expectation–maximisation (Winkler 1988) with `u` held fixed,
//! assuming fields independent given match status, in sessions: each on the
//! pairs one kind of blocking key found ([`crate::Matcher::blocked_pairs`]),
//! leaving out the fields those pairs agree on by construction (else every
//! blocked pair looks like a match). A field's `m` is the mean over the
//! sessions that estimated it.

use crate::compare::{ALL_FIELDS, Comparison, Field, Level, Mu, Weights};
use std::collections::HashMap;

/// One EM session: blocked pairs and the fields they were blocked on.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// Comparisons of the pairs.
    pub pairs: Vec<Comparison>,
    /// Fields left out (the blocking key's).
    pub excluded: Vec<Field>,
}

/// Result of [`estimate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// Re-estimated weights (levels never observed keep their start value).
    pub weights: Weights,
    /// Estimated share of matches among each session's pairs.
    pub match_shares: Vec<f64>,
    /// Iterations run, per session.
    pub iterations: Vec<usize>,
}

const FLOOR: f64 = 1e-6;
/// Weight, in pairs, of the start `m` in every session's estimate.
const PSEUDO_PAIRS: f64 = 50.0;

/// Estimate `u` from `random` pairs, then `m` by EM in each session for at
/// most `max_iterations` (stopping when no `m` moves by more than 1e-6).
/// Levels seen nowhere keep their `start` values.
pub fn estimate(sessions: &[Session], random: &[Comparison], start: &Weights, max_iterations: usize) -> Estimate {
    let mut base = start.clone();
    estimate_u(random, &mut base);
    let mut sums: HashMap<(Field, Level), (f64, usize)> = HashMap::new();
    let (mut match_shares, mut iterations) = (Vec::new(), Vec::new());
    for session in sessions {
        let (weights, p, n) = em_session(session, &base, max_iterations);
        match_shares.push(p);
        iterations.push(n);
        for (f, l, mu) in weights.entries().filter(|(f, _, _)| !session.excluded.contains(f)) {
            let e = sums.entry((f, l)).or_default();
            e.0 += mu.m;
            e.1 += 1;
        }
    }
    let mut weights = base.clone();
    for ((f, l), (sum, n)) in sums {
        let u = base.get(f, l).expect("estimated levels are applicable").u;
        weights.set(f, l, Mu { m: (sum / n as f64).clamp(FLOOR, 1.0 - FLOOR), u }).expect("applicable and clamped");
    }
    Estimate { weights, match_shares, iterations }
}

/// EM with `u` fixed on one session: its weights, match share and iterations.
fn em_session(session: &Session, start: &Weights, max_iterations: usize) -> (Weights, f64, usize) {
    let fields: Vec<Field> = ALL_FIELDS.iter().copied().filter(|f| !session.excluded.contains(f)).collect();
    let mut groups: HashMap<Comparison, f64> = HashMap::new();
    for c in &session.pairs {
        *groups.entry(*c).or_default() += 1.0;
    }
    let groups: Vec<(Comparison, f64)> = groups.into_iter().collect();
    let total: f64 = groups.iter().map(|(_, n)| n).sum();
    let mut weights = start.clone();
    let mut p: f64 = 0.1;
    let mut iterations = 0;
    while iterations < max_iterations && !groups.is_empty() {
        iterations += 1;
        // E: posterior match probability of each distinct comparison.
        let posts: Vec<f64> = groups
            .iter()
            .map(|(c, _)| {
                let (mut lm, mut lu) = (p.ln(), (1.0 - p).ln());
                for &f in &fields {
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
        for &f in &fields {
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
            let levels: Vec<(Level, Mu)> = weights.entries().filter(|(field, _, _)| *field == f).map(|(_, l, mu)| (l, mu)).collect();
            for (level, old) in levels {
                // A few pseudo-pairs at the start value, so a level rarely
                // seen among matches keeps a finite, sensible weight.
                let prior = start.get(f, level).expect("same levels").m;
                let m =
                    ((sums.get(&level).copied().unwrap_or(0.0) + PSEUDO_PAIRS * prior) / (all + PSEUDO_PAIRS)).clamp(FLOOR, 1.0 - FLOOR);
                moved = moved.max((m - old.m).abs());
                weights.set(f, level, Mu { m, u: old.u }).expect("level applicable and clamped");
            }
        }
        if moved < 1e-6 {
            break;
        }
    }
    (weights, p, iterations)
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
