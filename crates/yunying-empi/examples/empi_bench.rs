//! The EMPI matching benchmark: a seeded synthetic population (see
//! `yunying_empi::synth`) is linked identity by identity, as at ingest, and
//! the result is scored against the truth.
//!
//! Usage: `empi-bench [--persons N] [--seed S] [--auto BITS] [--review BITS] [--em]`.
//! Prints a Markdown report on stdout. Pairwise figures: a pair of identities
//! is a predicted link when both end in one person, a true link when both
//! come from one synthetic person.

use std::collections::HashMap;
use std::time::Instant;
use yunying_empi::synth::{self, Population};
use yunying_empi::{BlockKind, Decision, Field, IdentityId, MatchConfig, Matcher, PersonId, PlatformKey, ReviewReason, em};

struct Args {
    persons: usize,
    seed: u64,
    auto: Option<f64>,
    review: Option<f64>,
    em: bool,
    explain: usize,
}

fn parse_args() -> Args {
    let mut a = Args { persons: 100_000, seed: 20_231, auto: None, review: None, em: false, explain: 0 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--persons" => a.persons = value().parse().expect("--persons N"),
            "--seed" => a.seed = value().parse().expect("--seed S"),
            "--auto" => a.auto = Some(value().parse().expect("--auto BITS")),
            "--review" => a.review = Some(value().parse().expect("--review BITS")),
            "--em" => a.em = true,
            "--explain" => a.explain = value().parse().expect("--explain N"),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn main() {
    let args = parse_args();
    let key = PlatformKey::new(b"benchmark platform key, not a secret").expect("long enough");
    let t = Instant::now();
    let pop = synth::generate(args.persons, args.seed, &key);
    let gen_secs = t.elapsed().as_secs_f64();
    let mut config = MatchConfig::default();
    if let Some(a) = args.auto {
        config.auto_link = a;
    }
    if let Some(r) = args.review {
        config.review = r;
    }
    let twins = pop.persons.iter().filter(|p| p.twin_of.is_some()).count();
    println!("# EMPI matching benchmark\n");
    println!(
        "Population: {} persons ({} twins), {} identities at 12 institutions, seed {}; generated in {:.1} s.\n",
        pop.persons.len(),
        twins,
        pop.identities.len(),
        args.seed,
        gen_secs
    );
    println!("Thresholds: auto-link ≥ {} bits, review ≥ {} bits.\n", config.auto_link, config.review);
    let (mut matcher, run) = link(&pop, config.clone());
    report("Default weights", &pop, &mut matcher, &run);
    explain(&pop, &run, args.explain);
    if args.em {
        let t = Instant::now();
        let sessions = [
            em::Session { pairs: matcher.blocked_pairs(BlockKind::BirthDate, 500_000), excluded: vec![Field::BirthDate] },
            em::Session { pairs: matcher.blocked_pairs(BlockKind::Name, 500_000), excluded: vec![Field::FamilyName, Field::GivenName] },
        ];
        let random = matcher.random_pairs(1_000_000, args.seed);
        let est = em::estimate(&sessions, &random, &config.weights, 100);
        println!(
            "u from {} random pairs; m by EM on {} pairs blocked on birth date (birth date left out; {} iterations, match share {:.3}) \
             and {} blocked on name (names left out; {} iterations, match share {:.3}); {:.1} s.\n",
            random.len(),
            sessions[0].pairs.len(),
            est.iterations[0],
            est.match_shares[0],
            sessions[1].pairs.len(),
            est.iterations[1],
            est.match_shares[1],
            t.elapsed().as_secs_f64()
        );
        println!("| field | level | m | u | bits |\n|---|---|---|---|---|");
        for (f, l, mu) in est.weights.entries() {
            println!("| {f:?} | {l:?} | {:.4} | {:.6} | {:.2} |", mu.m, mu.u, (mu.m / mu.u).log2());
        }
        println!();
        config.weights = est.weights;
        let (mut matcher, run) = link(&pop, config);
        report("EM-estimated weights", &pop, &mut matcher, &run);
    }
}

/// What happened during one linking pass.
struct Run {
    latencies_ns: Vec<u64>,
    secs: f64,
    deterministic: usize,
    auto: usize,
    reviews: Vec<(IdentityId, Decision)>,
    /// Probabilistic links to a different synthetic person.
    wrong_links: Vec<(IdentityId, Decision)>,
    new_persons: usize,
}

fn link(pop: &Population, config: MatchConfig) -> (Matcher, Run) {
    let mut m = Matcher::new(config).expect("valid config");
    let mut run = Run {
        latencies_ns: Vec::with_capacity(pop.identities.len()),
        secs: 0.0,
        deterministic: 0,
        auto: 0,
        reviews: Vec::new(),
        wrong_links: Vec::new(),
        new_persons: 0,
    };
    let start = Instant::now();
    for identity in &pop.identities {
        let t = Instant::now();
        let out = m.add(identity).expect("valid identity");
        run.latencies_ns.push(t.elapsed().as_nanos() as u64);
        match out.decision {
            Decision::Deterministic { .. } => run.deterministic += 1,
            Decision::AutoLink(ref c) => {
                run.auto += 1;
                if pop.truth[c.identity.0 as usize] != pop.truth[out.identity.0 as usize] {
                    run.wrong_links.push((out.identity, out.decision.clone()));
                }
            }
            Decision::NewPerson { .. } => run.new_persons += 1,
            d @ Decision::Review { .. } => run.reviews.push((out.identity, d)),
        }
    }
    run.secs = start.elapsed().as_secs_f64();
    (m, run)
}

/// Pairwise true positives, predicted pairs and true pairs.
fn pairwise(truth: &[u32], predicted: impl Fn(usize) -> PersonId) -> (u64, u64, u64) {
    let pairs = |n: u64| n * n.saturating_sub(1) / 2;
    let mut cells: HashMap<(u32, u32), u64> = HashMap::new();
    let mut clusters: HashMap<u32, u64> = HashMap::new();
    let mut persons: HashMap<u32, u64> = HashMap::new();
    for (i, t) in truth.iter().enumerate() {
        let p = predicted(i).0;
        *cells.entry((p, *t)).or_default() += 1;
        *clusters.entry(p).or_default() += 1;
        *persons.entry(*t).or_default() += 1;
    }
    let tp = cells.values().map(|n| pairs(*n)).sum();
    (tp, clusters.values().map(|n| pairs(*n)).sum(), persons.values().map(|n| pairs(*n)).sum())
}

fn report(title: &str, pop: &Population, m: &mut Matcher, run: &Run) {
    let person = |i: usize| m.person_of(IdentityId(i as u32)).expect("added");
    let (tp, predicted, truth) = pairwise(&pop.truth, person);
    // Twin pairs wrongly put in one person.
    let mut twin_fp = 0u64;
    let mut by_person: HashMap<u32, Vec<PersonId>> = HashMap::new();
    for (i, t) in pop.truth.iter().enumerate() {
        by_person.entry(*t).or_default().push(person(i));
    }
    for (i, p) in pop.persons.iter().enumerate() {
        if let Some(twin) = p.twin_of {
            let (a, b) = (&by_person[&(i as u32)], &by_person[&twin]);
            twin_fp += a.iter().map(|x| b.iter().filter(|y| *y == x).count() as u64).sum::<u64>();
        }
    }
    let mut lat = run.latencies_ns.clone();
    lat.sort_unstable();
    let q = |f: f64| lat[((lat.len() - 1) as f64 * f) as usize] as f64 / 1000.0;
    let n = pop.identities.len();
    let reasons = |r: fn(&ReviewReason) -> bool| {
        run.reviews.iter().filter(|(_, d)| matches!(d, Decision::Review { reason, .. } if r(reason))).count()
    };
    // Reviews whose best candidate is the right person: what a reviewer can confirm.
    let right = run
        .reviews
        .iter()
        .filter(|(id, d)| match d {
            Decision::Review { candidates, .. } => {
                candidates.first().is_some_and(|c| pop.truth[c.identity.0 as usize] == pop.truth[id.0 as usize])
            }
            _ => false,
        })
        .count();
    println!("## {title}\n");
    println!("| measure | value |\n|---|---|");
    println!("| identities | {n} |");
    println!("| true pairs | {truth} |");
    println!("| auto-linked pairs (deterministic + probabilistic) | {predicted} |");
    println!("| **precision** (pairwise) | **{:.5}** |", tp as f64 / predicted.max(1) as f64);
    println!("| **recall / sensitivity** (pairwise) | **{:.4}** |", tp as f64 / truth.max(1) as f64);
    println!("| twin pairs wrongly linked | {twin_fp} |");
    println!(
        "| decisions: deterministic / auto-link / review / new person | {} / {} / {} / {} |",
        run.deterministic,
        run.auto,
        run.reviews.len(),
        run.new_persons
    );
    println!(
        "| review queue: by score / name disagrees / sex or ID disagrees / possible twin / ID conflict | {} / {} / {} / {} / {} |",
        reasons(|r| *r == ReviewReason::Score),
        reasons(|r| *r == ReviewReason::NameDisagrees),
        reasons(|r| matches!(r, ReviewReason::SexDisagrees | ReviewReason::IdDisagrees)),
        reasons(|r| *r == ReviewReason::PossibleTwin),
        reasons(|r| matches!(r, ReviewReason::IdConflict(_)))
    );
    println!(
        "| review entries whose best candidate is right | {right} ({:.1} %) |",
        100.0 * right as f64 / run.reviews.len().max(1) as f64
    );
    // A reviewer who confirms the right candidate and rejects the others.
    for (id, d) in &run.reviews {
        if let Decision::Review { candidates, .. } = d
            && let Some(c) = candidates.iter().find(|c| pop.truth[c.identity.0 as usize] == pop.truth[id.0 as usize])
        {
            let target = m.person_of(c.identity).expect("added");
            m.assign(*id, target).expect("known");
        }
    }
    let person = |i: usize| m.person_of(IdentityId(i as u32)).expect("added");
    let (tp2, predicted2, _) = pairwise(&pop.truth, person);
    println!(
        "| after the review queue is worked: precision / recall | {:.5} / {:.4} |",
        tp2 as f64 / predicted2.max(1) as f64,
        tp2 as f64 / truth.max(1) as f64
    );
    // Review entries by best score: how many a reviewer would confirm.
    let mut buckets = [(0usize, 0usize); 6];
    for (id, d) in &run.reviews {
        if let Decision::Review { candidates, .. } = d
            && let Some(c) = candidates.first()
        {
            let b = (((c.score - 10.0) / 2.0).max(0.0) as usize).min(5);
            buckets[b].0 += 1;
            buckets[b].1 += usize::from(pop.truth[c.identity.0 as usize] == pop.truth[id.0 as usize]);
        }
    }
    let cells: Vec<String> = buckets.iter().enumerate().map(|(i, (n, r))| format!("{}–{}: {r}/{n}", 10 + 2 * i, 12 + 2 * i)).collect();
    println!("| review entries by best score (bits: right/all) | {} |", cells.join(", ").replace("20–22", "≥ 20"));
    println!("| pairs compared per identity (blocking) | {:.1} |", m.comparisons() as f64 / n as f64);
    println!("| linking speed (one thread) | {:.0} identities/s |", n as f64 / run.secs);
    println!("| latency per identity p50 / p95 / p99 | {:.1} / {:.1} / {:.1} µs |", q(0.5), q(0.95), q(0.99));
    println!();
}

/// Print up to `n` wrong probabilistic links with their explanation (synthetic data only).
fn explain(pop: &Population, run: &Run, n: usize) {
    for (id, d) in run.wrong_links.iter().take(n) {
        let Decision::AutoLink(c) = d else { continue };
        let (a, b) = (&pop.identities[id.0 as usize], &pop.identities[c.identity.0 as usize]);
        println!("wrong link {:.1} bits: {} {} / {} {}", c.score, a.name.to_dicom(), date(a), b.name.to_dicom(), date(b));
        for f in &c.explanation {
            println!("    {:?} {:?} {:+.2}", f.field, f.level, f.bits);
        }
    }
    for (id, d) in run.reviews.iter().take(n) {
        let Decision::Review { candidates, reason } = d else { continue };
        let Some(c) = candidates.first() else { continue };
        let (a, b) = (&pop.identities[id.0 as usize], &pop.identities[c.identity.0 as usize]);
        let same = pop.truth[id.0 as usize] == pop.truth[c.identity.0 as usize];
        println!(
            "review {reason:?} same={same} {:.1} bits: {} {} / {} {}",
            c.score,
            a.name.to_dicom(),
            date(a),
            b.name.to_dicom(),
            date(b)
        );
        for f in &c.explanation {
            println!("    {:?} {:?} {:+.2}", f.field, f.level, f.bits);
        }
    }
}

/// A birth date as `YYYY-MM-DD` with `?` for what is missing (synthetic data only).
fn date(i: &yunying_empi::Identity) -> String {
    let d = i.birth_date;
    let part = |v: Option<u16>, w: usize| v.map_or("?".repeat(w), |v| format!("{v:0w$}"));
    format!("{}-{}-{}", part(d.year, 4), part(d.month.map(u16::from), 2), part(d.day.map(u16::from), 2))
}
