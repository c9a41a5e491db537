//! What a film shows of a patient before and after verification: enough to
//! recognise, not to identify.

/// `陈建国` → `陈*国`, `Chen^JianGuo` → `Chen J.`.
pub fn mask_person_name(name: &str) -> String {
    let groups: Vec<&str> = name.split('=').collect();
    if let Some(ideographic) = groups.get(1).filter(|g| !g.trim().is_empty()) {
        let chars: Vec<char> = ideographic.chars().filter(|c| *c != '^' && !c.is_whitespace()).collect();
        return match chars.len() {
            0 => String::new(),
            1 => "*".into(),
            2 => format!("{}*", chars[0]),
            n => format!("{}{}{}", chars[0], "*".repeat(n - 2), chars[n - 1]),
        };
    }
    let mut parts = groups[0].split('^');
    let family = parts.next().unwrap_or("").trim();
    let given = parts.next().unwrap_or("").trim();
    match given.chars().next() {
        Some(initial) => format!("{family} {initial}."),
        None => family.to_string(),
    }
}

/// `13812345678` → `138****5678`.
pub fn mask_phone(phone: &str) -> String {
    let n = phone.chars().count();
    if n < 7 {
        return "*".repeat(n);
    }
    let chars: Vec<char> = phone.chars().collect();
    format!("{}{}{}", chars[..3].iter().collect::<String>(), "*".repeat(n - 7), chars[n - 4..].iter().collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_phones_are_masked() {
        assert_eq!(mask_person_name("Chen^JianGuo=陈^建国"), "陈*国");
        assert_eq!(mask_person_name("Li^Na=李^娜"), "李*");
        assert_eq!(mask_person_name("Chen^JianGuo"), "Chen J.");
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("123"), "***");
    }
}
