//! Turning DICOM matching (PS3.4 C.2.2.2) into SQL, and the normalised name
//! forms that make person-name matching case- and accent-insensitive across
//! component groups, in Pinyin and in Hanzi.
//!
//! A person name `Wang^XiaoDong=王^小东` is kept, besides its full value, as
//! one lower-cased, accent-free column per component group (`wang^xiaodong`,
//! `王^小东`, ``) and a word list for fuzzy matching
//! (` wang xiaodong 王 小东 xiao dong `: every component, and the Pinyin of
//! Hanzi components both as syllables and joined).

use pinyin::ToPinyin;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Normalised search forms of a person name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameSearch {
    pub alphabetic: String,
    pub ideographic: String,
    pub phonetic: String,
    /// Space-separated words with a leading and trailing space.
    pub words: String,
}

/// Lower-case and strip accents (NFD, combining marks removed).
pub fn fold(s: &str) -> String {
    s.nfd().filter(|c| !is_combining_mark(*c)).flat_map(char::to_lowercase).collect()
}

/// The search forms of a PN value (UTF-8, groups separated by `=`).
pub fn name_search(name: &str) -> NameSearch {
    let mut groups = name.splitn(3, '=').map(|g| fold(g.trim().trim_end_matches('^').trim()));
    let alphabetic = groups.next().unwrap_or_default();
    let ideographic = groups.next().unwrap_or_default();
    let phonetic = groups.next().unwrap_or_default();
    let mut words: Vec<String> = Vec::new();
    let mut push = |w: String| {
        if !w.is_empty() && !words.contains(&w) {
            words.push(w);
        }
    };
    for group in [&alphabetic, &ideographic, &phonetic] {
        for component in group.split(['^', ' ', ',']) {
            let component = component.trim();
            push(component.to_string());
            let syllables: Vec<&str> = component.to_pinyin().flatten().map(|p| p.plain()).collect();
            if !syllables.is_empty() {
                push(syllables.concat());
                for s in syllables {
                    push(s.to_string());
                }
            }
        }
    }
    let words = if words.is_empty() { String::new() } else { format!(" {} ", words.join(" ")) };
    NameSearch { alphabetic, ideographic, phonetic, words }
}

/// Whether a query value uses wildcards.
pub fn has_wildcards(value: &str) -> bool {
    value.contains(['*', '?'])
}

/// A DICOM wildcard pattern as a SQL `LIKE` pattern with `\` as escape.
pub fn like_pattern(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 4);
    for c in value.chars() {
        match c {
            '*' => out.push('%'),
            '?' => out.push('_'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A range query value `a-b`, `a-` or `-b` (dates or times): its bounds.
/// `None` when the value is not a range.
pub fn range(value: &str) -> Option<(Option<&str>, Option<&str>)> {
    let (a, b) = value.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    Some(((!a.is_empty()).then_some(a), (!b.is_empty()).then_some(b)))
}

/// A date `YYYYMMDD` (the legacy `YYYY.MM.DD` is accepted).
pub fn valid_date(v: &str) -> Option<String> {
    let v: String = v.chars().filter(|c| *c != '.').collect();
    (v.len() == 8 && v.bytes().all(|b| b.is_ascii_digit())).then_some(v)
}

/// A time `HH[MM[SS[.F{1,6}]]]` (colons accepted), without colons.
pub fn valid_time(v: &str) -> Option<String> {
    let v: String = v.chars().filter(|c| *c != ':').collect();
    let (whole, frac) = v.split_once('.').unwrap_or((&v, ""));
    let ok = matches!(whole.len(), 2 | 4 | 6)
        && whole.bytes().all(|b| b.is_ascii_digit())
        && frac.len() <= 6
        && frac.bytes().all(|b| b.is_ascii_digit())
        && (frac.is_empty() || whole.len() == 6);
    ok.then_some(v)
}

/// The upper bound of a time range: a time given to the minute matches the
/// whole minute (`1200` → `120059.999999`).
pub fn time_upper(v: &str) -> String {
    const FULL: &str = "995959.999999";
    let full = "HHMMSS.FFFFFF".len();
    let mut out = v.to_string();
    if out.len() < full {
        if out.len() == 6 {
            out.push('.');
        }
        out.push_str(&FULL[out.len()..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_searchable_by_group_word_and_pinyin() {
        let n = name_search("Wang^XiaoDong=王^小东");
        assert_eq!(n.alphabetic, "wang^xiaodong");
        assert_eq!(n.ideographic, "王^小东");
        assert_eq!(n.phonetic, "");
        for word in [" wang ", " xiaodong ", " 王 ", " 小东 ", " xiao ", " dong "] {
            assert!(n.words.contains(word), "{word:?} in {:?}", n.words);
        }
        let hanzi_only = name_search("张伟");
        assert!(hanzi_only.words.contains(" zhangwei "), "{:?}", hanzi_only.words);
        assert!(hanzi_only.words.contains(" zhang "));
    }

    #[test]
    fn folding_ignores_case_and_accents() {
        assert_eq!(fold("Müller^José"), "muller^jose");
        assert_eq!(name_search("ÅSTRÖM^Pär").alphabetic, "astrom^par");
    }

    #[test]
    fn wildcards_become_like_patterns_with_escapes() {
        assert_eq!(like_pattern("wang*"), "wang%");
        assert_eq!(like_pattern("w?ng_5%"), "w_ng\\_5\\%");
    }

    #[test]
    fn ranges_and_times() {
        assert_eq!(range("20200101-20201231"), Some((Some("20200101"), Some("20201231"))));
        assert_eq!(range("-20201231"), Some((None, Some("20201231"))));
        assert_eq!(range("20200101"), None);
        assert_eq!(valid_date("2020.01.02").as_deref(), Some("20200102"));
        assert_eq!(valid_date("2020-01"), None);
        assert_eq!(valid_time("12:30").as_deref(), Some("1230"));
        assert_eq!(valid_time("123"), None);
        assert_eq!(time_upper("1200"), "120059.999999");
        assert_eq!(time_upper("12"), "125959.999999");
        assert_eq!(time_upper("120000"), "120000.999999");
    }
}
