//! A seeded synthetic population for the matching benchmark: persons with
//! Chinese names (surnames by their census frequency, 1–2 character given
//! names), birth dates, sex, phones, addresses and ID numbers, and their
//! identities at several institutions, each sending names its own way
//! (Pinyin only, Hanzi only, both, no `^`, western order) with the errors
//! seen in practice: Pinyin typos, homophone Hanzi, day and month swapped,
//! one-digit dates, missing or year-only birth dates, missing sex, changed
//! phones, another person's ID number. Hard negatives: twins (same surname,
//! birth date, address, often phone; different given name) and household
//! members (same address and phone). Patient IDs are numbered per
//! institution, so the same value names different people at different
//! hospitals. Same seed, same population.

use crate::id::{InsuranceCode, NationalId, Phone, PlatformKey, check_character};
use crate::name::{fold_pinyin, hanzi_pinyin};
use crate::record::{BirthDate, Identity, Sex};
use crate::{PersonName, name};

mod data;
use data::{DISTRICTS, GIVEN, REGIONS, STREETS, SURNAMES, TAIL_SURNAMES};

/// xoshiro256** seeded through SplitMix64: small, fast, reproducible.
#[derive(Debug, Clone)]
pub struct Rng([u64; 4]);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng([next(), next(), next(), next()])
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * n as f64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// An index drawn with the given weights.
    fn weighted(&mut self, cumulative: &[f64]) -> usize {
        let x = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * cumulative[cumulative.len() - 1];
        cumulative.partition_point(|c| *c <= x).min(cumulative.len() - 1)
    }
}

/// How an institution writes names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// `ZHANG^SAN`.
    PinyinUpper,
    /// `Zhang^San=张^三`.
    Both,
    /// `张三` in the first group.
    HanziOnly,
    /// `ZHANG SAN`, no caret.
    PinyinSpaced,
}

/// Institutions and the name styles they send (with a little mixing).
const INSTITUTIONS: [Style; 12] = [
    Style::Both,
    Style::Both,
    Style::Both,
    Style::Both,
    Style::PinyinUpper,
    Style::PinyinUpper,
    Style::PinyinUpper,
    Style::HanziOnly,
    Style::HanziOnly,
    Style::PinyinSpaced,
    Style::Both,
    Style::PinyinUpper,
];

/// One synthetic person (the truth).
#[derive(Debug, Clone)]
pub struct Person {
    family: String,
    given: Vec<usize>,
    given_hz: String,
    birth: (u16, u8, u8),
    male: bool,
    phone: Option<String>,
    address: String,
    national_id: String,
    insurance: String,
    /// The person this one is a twin of, if any.
    pub twin_of: Option<u32>,
}

/// Generated identities and, for each, the index of its true person.
#[derive(Debug, Clone)]
pub struct Population {
    /// Identities in arrival order (shuffled across institutions).
    pub identities: Vec<Identity>,
    /// `truth[i]` is the person of `identities[i]`.
    pub truth: Vec<u32>,
    /// The persons.
    pub persons: Vec<Person>,
}

/// Generate `persons` persons and their identities.
pub fn generate(persons: usize, seed: u64, key: &PlatformKey) -> Population {
    let mut rng = Rng::new(seed);
    let surnames = surname_table();
    let cumulative: Vec<f64> = surnames
        .iter()
        .scan(0.0, |acc, (_, w)| {
            *acc += w;
            Some(*acc)
        })
        .collect();
    let given_weights: Vec<f64> = (0..GIVEN.len())
        .scan(0.0, |acc, r| {
            *acc += 1.0 / (r as f64 + 1.0).powf(0.7);
            Some(*acc)
        })
        .collect();
    let mut people: Vec<Person> = Vec::with_capacity(persons);
    while people.len() < persons {
        let p = match people.last() {
            Some(prev) if rng.chance(0.015) => twin(&mut rng, prev, people.len() - 1, &given_weights),
            Some(prev) if rng.chance(0.10) => household(&mut rng, prev, &surnames, &cumulative, &given_weights),
            _ => person(&mut rng, &surnames, &cumulative, &given_weights),
        };
        people.push(p);
    }
    let mut next_pid = [0u32; INSTITUTIONS.len()];
    let mut identities = Vec::new();
    let mut truth = Vec::new();
    for (i, p) in people.iter().enumerate() {
        let count = [1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 5][rng.below(20)];
        let mut used = [false; INSTITUTIONS.len()];
        for _ in 0..count {
            let mut inst = rng.below(INSTITUTIONS.len());
            while used[inst] {
                inst = (inst + 1) % INSTITUTIONS.len();
            }
            used[inst] = true;
            next_pid[inst] += 1;
            let other = &people[rng.below(people.len())];
            identities.push(identity(&mut rng, p, other, inst, next_pid[inst], key));
            truth.push(i as u32);
        }
    }
    // Arrival order: a seeded shuffle across persons and institutions.
    for i in (1..identities.len()).rev() {
        let j = rng.below(i + 1);
        identities.swap(i, j);
        truth.swap(i, j);
    }
    Population { identities, truth, persons: people }
}

fn surname_table() -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let mut chars = SURNAMES.chars().peekable();
    while let Some(c) = chars.next() {
        let mut digits = String::new();
        while let Some(d) = chars.next_if(|d| d.is_ascii_digit()) {
            digits.push(d);
        }
        out.push((c.to_string(), digits.parse::<f64>().unwrap_or(1.0)));
    }
    out.extend(TAIL_SURNAMES.iter().map(|s| (s.to_string(), 150.0 / TAIL_SURNAMES.len() as f64)));
    out
}

fn given_name(rng: &mut Rng, weights: &[f64]) -> Vec<usize> {
    let n = if rng.chance(0.3) { 1 } else { 2 };
    (0..n).map(|_| rng.weighted(weights)).collect()
}

/// The Hanzi of a given name: mostly the first character of each group,
/// sometimes another one of the same sound.
fn hanzi_of(rng: &mut Rng, given: &[usize]) -> String {
    given
        .iter()
        .map(|g| {
            let group: Vec<char> = GIVEN[*g].chars().collect();
            if group.len() > 1 && rng.chance(0.3) { group[1 + rng.below(group.len() - 1)] } else { group[0] }
        })
        .collect()
}

fn birth(rng: &mut Rng) -> (u16, u8, u8) {
    // Ages skewed to the middle-aged and old, as hospital patients are.
    let year = 1935 + (rng.below(90) + rng.below(90)) as u16 / 2;
    let month = 1 + rng.below(12) as u8;
    let day = 1 + rng.below(28) as u8 + if rng.chance(0.1) { rng.below(3) as u8 } else { 0 };
    (year, month, day.min(if month == 2 { 28 } else { 30 }))
}

fn digits(rng: &mut Rng, n: usize) -> String {
    (0..n).map(|_| char::from(b'0' + rng.below(10) as u8)).collect()
}

fn person(rng: &mut Rng, surnames: &[(String, f64)], cumulative: &[f64], gw: &[f64]) -> Person {
    let family = surnames[rng.weighted(cumulative)].0.clone();
    let given = given_name(rng, gw);
    let birth = birth(rng);
    let male = rng.chance(0.5);
    let address = format!(
        "{}{}{}号{}栋{}单元{}",
        rng.pick(&DISTRICTS),
        rng.pick(&STREETS),
        1 + rng.below(300),
        1 + rng.below(20),
        1 + rng.below(6),
        101 + rng.below(30) * 100 + rng.below(4)
    );
    let phone = rng.chance(0.85).then(|| format!("1{}{}", 3 + rng.below(7), digits(rng, 9)));
    Person {
        given_hz: hanzi_of(rng, &given),
        family,
        given,
        birth,
        male,
        phone,
        address,
        national_id: national_id(rng, birth, male),
        insurance: digits(rng, 26),
        twin_of: None,
    }
}

fn twin(rng: &mut Rng, prev: &Person, prev_index: usize, gw: &[f64]) -> Person {
    let mut given = given_name(rng, gw);
    if prev.given.len() == 2 && given.len() == 2 && rng.chance(0.5) {
        given[0] = prev.given[0];
    }
    while given == prev.given {
        given = given_name(rng, gw);
    }
    let male = rng.chance(0.5);
    let phone = if rng.chance(0.7) { prev.phone.clone() } else { Some(format!("1{}{}", 3 + rng.below(7), digits(rng, 9))) };
    Person {
        given_hz: hanzi_of(rng, &given),
        family: prev.family.clone(),
        given,
        birth: prev.birth,
        male,
        phone,
        address: prev.address.clone(),
        national_id: national_id(rng, prev.birth, male),
        insurance: digits(rng, 26),
        twin_of: Some(prev_index as u32),
    }
}

fn household(rng: &mut Rng, prev: &Person, surnames: &[(String, f64)], cumulative: &[f64], gw: &[f64]) -> Person {
    let mut p = person(rng, surnames, cumulative, gw);
    p.address = prev.address.clone();
    if rng.chance(0.5) {
        p.family = prev.family.clone();
    }
    if rng.chance(0.6) {
        p.phone = prev.phone.clone();
    }
    p
}

fn national_id(rng: &mut Rng, (y, m, d): (u16, u8, u8), male: bool) -> String {
    let seq = rng.below(50) * 2 + usize::from(male);
    let first = format!("{}{y:04}{m:02}{d:02}{seq:03}", rng.pick(&REGIONS));
    let first = &first[..17];
    let check = check_character(first.as_bytes());
    format!("{first}{}", check as char)
}

fn identity(rng: &mut Rng, p: &Person, other: &Person, inst: usize, pid: u32, key: &PlatformKey) -> Identity {
    let mut id = Identity::new(&format!("HOSP{inst:02}"), &format!("{pid:07}"));
    id.name = PersonName::parse(&name_text(rng, p, INSTITUTIONS[inst])).expect("short name");
    id.birth_date = birth_text(rng, p.birth);
    id.sex = match () {
        _ if rng.chance(0.02) => Sex::Unknown,
        _ if rng.chance(0.005) => [Sex::Male, Sex::Female][usize::from(p.male)],
        _ => [Sex::Female, Sex::Male][usize::from(p.male)],
    };
    if rng.chance(0.12) {
        // Now and then the number of someone else (a relative's card) is typed.
        let number = if rng.chance(0.003) { &other.national_id } else { &p.national_id };
        id.id_digests.push(NationalId::parse(number).expect("generated valid").digest(key));
    }
    if rng.chance(0.08) {
        id.id_digests.push(InsuranceCode::parse(&p.insurance).expect("26 digits").digest(key));
    }
    if let Some(phone) = &p.phone
        && rng.chance(0.5)
    {
        let phone = if rng.chance(0.05) { format!("1{}{}", 3 + rng.below(7), digits(rng, 9)) } else { phone.clone() };
        id.phone = Some(Phone::parse(&phone).expect("generated valid").digest(key));
    }
    if rng.chance(0.5) {
        let mut a = p.address.clone();
        if rng.chance(0.3) {
            a = format!("天津市{a}");
        }
        if rng.chance(0.3) {
            a = a.split('号').next().unwrap_or_default().to_string() + "号";
        }
        id.address = Some(a);
    }
    id
}

fn name_text(rng: &mut Rng, p: &Person, style: Style) -> String {
    let style = if rng.chance(0.1) { *rng.pick(&[Style::PinyinUpper, Style::Both, Style::HanziOnly, Style::PinyinSpaced]) } else { style };
    let mut given_hz = p.given_hz.clone();
    if rng.chance(0.03) {
        // A homophone typed through the input method.
        let k = rng.below(p.given.len());
        let group: Vec<char> = GIVEN[p.given[k]].chars().collect();
        if group.len() > 1 {
            let mut chars: Vec<char> = given_hz.chars().collect();
            let others: Vec<char> = group.into_iter().filter(|c| *c != chars[k]).collect();
            chars[k] = others[rng.below(others.len())];
            given_hz = chars.into_iter().collect();
        }
    }
    let family_py = fold_pinyin(&name_reading(&p.family));
    let mut given_py = hanzi_pinyin(&p.given_hz);
    let mut family_py = family_py;
    if rng.chance(0.04) {
        if rng.chance(0.7) {
            given_py = typo(rng, &given_py);
        } else {
            family_py = typo(rng, &family_py);
        }
    }
    let (f, g) = (capitalise(&family_py), capitalise(&given_py));
    let western = rng.chance(0.02);
    match style {
        Style::PinyinUpper if western => format!("{}^{}", g.to_uppercase(), f.to_uppercase()),
        Style::PinyinUpper => format!("{}^{}", f.to_uppercase(), g.to_uppercase()),
        Style::Both => format!("{f}^{g}={}^{given_hz}", p.family),
        Style::HanziOnly => format!("{}{given_hz}", p.family),
        Style::PinyinSpaced if western => format!("{g} {f}"),
        Style::PinyinSpaced if rng.chance(0.2) => format!("{}{}", f.to_uppercase(), g.to_uppercase()),
        Style::PinyinSpaced => format!("{} {}", f.to_uppercase(), g.to_uppercase()),
    }
}

fn name_reading(family: &str) -> String {
    let pn = PersonName::parse(&format!("{family}^")).expect("short");
    name::NormName::new(&pn).hz_reading.map(|r| r.0).unwrap_or_default()
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
}

/// One keyboard or dialect slip in a Pinyin string.
fn typo(rng: &mut Rng, s: &str) -> String {
    let mut b: Vec<u8> = s.bytes().collect();
    if b.len() < 3 {
        return s.to_string();
    }
    let i = rng.below(b.len() - 1);
    match rng.below(5) {
        0 => b[i] = b'a' + rng.below(26) as u8,
        1 => {
            b.remove(i);
        }
        2 => b.swap(i, i + 1),
        3 => b.insert(i, b[i]),
        _ => {
            let t = String::from_utf8(b.clone()).unwrap_or_default();
            let t = if t.contains("zh") {
                t.replacen("zh", "z", 1)
            } else if t.contains("ng") {
                t.replacen("ng", "n", 1)
            } else {
                t.replacen('n', "l", 1)
            };
            return t;
        }
    }
    String::from_utf8(b).unwrap_or_default()
}

fn birth_text(rng: &mut Rng, (y, m, d): (u16, u8, u8)) -> BirthDate {
    let r = (rng.next_u64() % 10_000) as f64 / 10_000.0;
    let full = |y, m, d| BirthDate::ymd(y, m, d).unwrap_or(BirthDate::UNKNOWN);
    match r {
        r if r < 0.04 => BirthDate::UNKNOWN,
        r if r < 0.05 => BirthDate { year: Some(y), month: None, day: None },
        r if r < 0.07 && d <= 12 && d != m => full(y, d, m),
        r if r < 0.085 => {
            // One mistyped digit: the last of the year or of the day.
            let (y2, d2) = if rng.chance(0.5) {
                (y - 1 - rng.below(2) as u16, d)
            } else {
                (y, d - d % 10 + [1, 2, 3, 4, 5, 6, 7, 8][rng.below(8)] % 9)
            };
            full(y2, m, d2)
        }
        _ => full(y, m, d),
    }
}
