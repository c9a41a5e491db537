//! A film's secrets: link and session tokens, SMS and access codes, and
//! the second factor's answers. Tokens carry 144 random bits from the
//! operating system's generator; every secret is stored and compared only
//! as a SHA-256 digest with a purpose label (`film-token`, `film-answer`)
//! in front, so a digest of one kind never matches a secret of another.
//! Answers are normalised before hashing, so `1975-03-02` and `19750302`
//! are one answer, and bound to their film, so one film's digest says
//! nothing about another's.

use base64::Engine;
use sha2::{Digest, Sha256};

/// `n` bytes from the operating system's generator, URL-safe base64.
pub fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::fill(&mut bytes[..]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A link or session token: 144 bits.
pub fn new_token() -> String {
    random_token(18)
}

/// A film's public name: random, not secret (paths, events).
pub fn new_film_id() -> String {
    format!("F{}", random_token(12))
}

/// A six-digit SMS or access code.
pub fn new_code() -> String {
    format!("{:06}", rand::random_range(0..1_000_000u32))
}

fn digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update([0x1f]);
        }
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The digest a link or session token is stored and looked up by.
pub fn token_hash(token: &str) -> String {
    digest(&["film-token", token.trim()])
}

/// The digest of a film's answer (normalised first, see [`normalise_answer`]).
pub fn answer_hash(film_id: &str, answer: &str) -> String {
    digest(&["film-answer", film_id, answer])
}

/// The last four letters or digits of a phone or ID number, upper case.
pub fn digits_suffix(value: &str) -> Option<String> {
    let kept: String = value.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect();
    (kept.len() >= 4).then(|| kept[kept.len() - 4..].to_string())
}

/// A date as its digits: `1975-03-02` → `19750302`.
pub fn normalise_date(value: &str) -> String {
    value.chars().filter(char::is_ascii_digit).collect()
}

/// An answer as the verification method compares it.
pub fn normalise_answer(method: &str, answer: &str) -> String {
    match method {
        "birth_date" => normalise_date(answer),
        "phone_suffix" | "id_suffix" => digits_suffix(answer).unwrap_or_default(),
        "access_code" => answer.chars().filter(char::is_ascii_digit).collect(),
        _ => answer.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_long_enough() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 24, "144 bits in URL-safe base64");
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert!(new_film_id().starts_with('F') && new_film_id().len() == 17);
        let code = new_code();
        assert!(code.len() == 6 && code.bytes().all(|c| c.is_ascii_digit()));
    }

    #[test]
    fn a_digest_is_never_the_secret_and_never_another_kinds() {
        let token = new_token();
        let hash = token_hash(&token);
        assert_ne!(hash, token);
        assert!(!hash.contains(&token));
        assert_eq!(hash.len(), 64);
        assert_eq!(token_hash(&format!(" {token}\n")), hash, "whitespace around a pasted token is no part of it");
        assert_ne!(answer_hash("F1", &token), hash, "a token used as an answer is another digest");
        assert_ne!(answer_hash("F1", "19750302"), answer_hash("F2", "19750302"), "bound to the film");
        // The separator keeps parts apart: ("F1", "2…") is not ("F12", "…").
        assert_ne!(answer_hash("F1", "2345"), answer_hash("F12", "345"));
    }

    #[test]
    fn answers_normalise_before_hashing() {
        assert_eq!(normalise_answer("birth_date", "1975-03-02"), "19750302");
        assert_eq!(normalise_answer("id_suffix", "11010519491231002x"), "002X");
        assert_eq!(normalise_answer("phone_suffix", "138 1234 5678"), "5678");
        assert_eq!(normalise_answer("phone_suffix", "12"), "");
        assert_eq!(normalise_answer("access_code", " 012 345 "), "012345");
        assert_eq!(normalise_answer("sms", " 123456 "), "123456");
    }
}
