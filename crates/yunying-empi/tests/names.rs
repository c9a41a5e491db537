//! PN parsing and the Hanzi/Pinyin comparisons names get.

use yunying_empi::{Field, Identity, Level, PersonName, Weights, compare_identities};

fn named(pn: &str) -> Identity {
    let mut i = Identity::new("H1", "1");
    i.name = PersonName::parse(pn).unwrap();
    i
}

fn name_levels(a: &str, b: &str) -> (Level, Level) {
    let c = compare_identities(&named(a), &named(b), &Weights::default());
    (c.level(Field::FamilyName), c.level(Field::GivenName))
}

fn name_bits(a: &str, b: &str) -> f64 {
    let w = Weights::default();
    let c = compare_identities(&named(a), &named(b), &w);
    w.bits(Field::FamilyName, c.level(Field::FamilyName)) + w.bits(Field::GivenName, c.level(Field::GivenName))
}

#[test]
fn pn_groups_are_parsed() {
    let n = PersonName::parse("Wang^Xiaoming=王^小明").unwrap();
    assert_eq!((n.alphabetic.family.as_str(), n.alphabetic.given.as_str()), ("Wang", "Xiaoming"));
    assert_eq!((n.ideographic.family.as_str(), n.ideographic.given.as_str()), ("王", "小明"));
    assert!(n.phonetic.family.is_empty());
    // Either group may be missing.
    let only_hanzi = PersonName::parse("=王^小明").unwrap();
    assert!(only_hanzi.alphabetic.family.is_empty());
    assert_eq!(only_hanzi.ideographic.given, "小明");
    assert!(PersonName::parse(&"王".repeat(300)).is_err());
    assert_eq!(n.to_dicom(), "Wang^Xiaoming=王^小明");
    // Debug never shows the name itself.
    let debug = format!("{n:?}");
    assert!(!debug.contains("Wang") && !debug.contains('王'), "{debug}");
}

#[test]
fn hanzi_and_pinyin_of_one_name_agree() {
    assert_eq!(name_levels("=张^三", "Zhang^San"), (Level::PinyinExact, Level::PinyinExact));
    // Hanzi sent in the first group without a caret, Pinyin with odd spelling.
    assert_eq!(name_levels("张三", "ZHANG^SAN"), (Level::PinyinExact, Level::PinyinExact));
    assert_eq!(name_levels("=吕^小芳", "LV^XIAO FANG"), (Level::PinyinExact, Level::PinyinExact));
    assert_eq!(name_levels("=吕^小芳", "Lü^Xiǎo'fāng"), (Level::PinyinExact, Level::PinyinExact));
    // Surname readings: 单 is Shan, 曾 is Zeng.
    assert_eq!(name_levels("=单^伟", "SHAN^WEI"), (Level::PinyinExact, Level::PinyinExact));
    assert_eq!(name_levels("=曾^伟", "ZENG^WEI"), (Level::PinyinExact, Level::PinyinExact));
    // Compound surname split from an unsplit Hanzi name.
    assert_eq!(name_levels("欧阳娜娜", "OUYANG^NANA"), (Level::PinyinExact, Level::PinyinExact));
    // And a different name does not.
    assert_eq!(name_levels("=张^三", "Zhang^Wei").1, Level::Disagree);
}

#[test]
fn homophone_counts_less_than_the_same_hanzi() {
    assert_eq!(name_levels("=张^三", "=章^三"), (Level::Homophone, Level::HanziExact));
    assert_eq!(name_levels("=王^小明", "=王^晓明").1, Level::Homophone);
    let same = name_bits("=张^三", "=张^三");
    let homophone = name_bits("=张^三", "=章^三");
    let different = name_bits("=张^三", "=李^三");
    assert!(same > homophone && homophone > different, "{same} > {homophone} > {different}");
    assert!(homophone > 0.0, "a homophone is still evidence for");
}

#[test]
fn pinyin_typos_are_close_only_without_hanzi_on_both_sides() {
    assert_eq!(name_levels("Zhang^Xiaoming", "ZHANG^XIAOMNIG").1, Level::PinyinClose);
    // Southern confusions: zh/z, -ng/-n.
    assert_eq!(name_levels("Zhang^Xiaoming", "ZANG^XIAOMIN"), (Level::PinyinClose, Level::PinyinClose));
    // Two Hanzi names that differ (not homophones) are different names.
    assert_eq!(name_levels("=王^明", "=王^敏").1, Level::Disagree);
}

#[test]
fn family_and_given_order_swaps_still_compare() {
    let (f, g) = name_levels("San Zhang", "Zhang^San");
    assert!(f != Level::Disagree && g != Level::Disagree, "{f:?} {g:?}");
    assert!(name_bits("San Zhang", "Zhang^San") > 0.0);
    assert!(name_bits("San Zhang", "Zhang^San") < name_bits("Zhang San", "Zhang^San"), "swapped is weaker than in order");
}
