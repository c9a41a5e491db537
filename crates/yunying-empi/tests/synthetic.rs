//! The synthetic population: reproducible, and linked well enough that a
//! regression in matching shows here before the benchmark.

use yunying_empi::synth::generate;
use yunying_empi::{MatchConfig, Matcher, PlatformKey, em};

fn key() -> PlatformKey {
    PlatformKey::new(b"synthetic test key, not secret").unwrap()
}

#[test]
fn same_seed_same_population() {
    let a = generate(500, 7, &key());
    let b = generate(500, 7, &key());
    let c = generate(500, 8, &key());
    assert_eq!(a.identities, b.identities);
    assert_eq!(a.truth, b.truth);
    assert_ne!(a.identities, c.identities);
}

#[test]
fn linking_a_small_population_is_precise_and_finds_most_links() {
    let pop = generate(5_000, 11, &key());
    let mut m = Matcher::new(MatchConfig::default()).unwrap();
    let persons: Vec<u32> = pop.identities.iter().map(|i| m.add(i).unwrap().person.0).collect();
    let (mut tp, mut predicted, mut truth) = (0u64, 0u64, 0u64);
    for i in 0..persons.len() {
        for j in i + 1..persons.len() {
            let same_predicted = persons[i] == persons[j];
            let same_true = pop.truth[i] == pop.truth[j];
            predicted += u64::from(same_predicted);
            truth += u64::from(same_true);
            tp += u64::from(same_predicted && same_true);
        }
    }
    let (precision, recall) = (tp as f64 / predicted as f64, tp as f64 / truth as f64);
    assert!(precision > 0.999, "precision {precision}");
    assert!(recall > 0.85, "recall {recall}");
}

#[test]
fn em_keeps_agreement_for_and_disagreement_against() {
    let pop = generate(3_000, 5, &key());
    let mut m = Matcher::new(MatchConfig::default()).unwrap();
    for i in &pop.identities {
        m.add(i).unwrap();
    }
    use yunying_empi::{BlockKind, Field, Level};
    let sessions = [
        em::Session { pairs: m.blocked_pairs(BlockKind::BirthDate, 100_000), excluded: vec![Field::BirthDate] },
        em::Session { pairs: m.blocked_pairs(BlockKind::Name, 100_000), excluded: vec![Field::FamilyName, Field::GivenName] },
    ];
    let est = em::estimate(&sessions, &m.random_pairs(200_000, 1), &MatchConfig::default().weights, 50);
    // Pairs sharing a birth date are mostly not the same person; pairs sharing
    // a name more often are, and neither session may call everything a match.
    assert!(est.match_shares.iter().all(|p| *p > 0.01 && *p < 0.99), "{:?}", est.match_shares);
    for f in [Field::FamilyName, Field::GivenName, Field::BirthDate] {
        let exact = if f == Field::BirthDate { Level::Exact } else { Level::PinyinExact };
        assert!(est.weights.bits(f, exact) > 0.0, "{f:?} agreement");
        assert!(est.weights.bits(f, Level::Disagree) < 0.0, "{f:?} disagreement");
    }
    assert!(est.iterations.iter().all(|n| *n >= 1));
}
