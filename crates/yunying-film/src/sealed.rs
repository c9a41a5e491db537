//! Phone numbers that SMS codes go to, encrypted at rest with SM4 (the
//! national standard block cipher, GB/T 32907) in GCM mode: the index holds
//! `sm4gcm:` + base64url(nonce ‖ ciphertext ‖ tag), bound to the film by
//! its id as associated data (a sealed value copied to another film's row
//! does not open there), under the key `http.film.data_key` (128 bits,
//! hex; `YUNYING_FILM_KEY`, or a key file the binary keeps in the data
//! directory). Nothing else in a film is reversible.

use aes_gcm::AesGcm;
use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use base64::Engine;
use sm4::Sm4;

type Sm4Gcm = AesGcm<Sm4, U12>;

const PREFIX: &str = "sm4gcm:";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn cipher(key_hex: &str) -> Result<Sm4Gcm, String> {
    let key = hex::decode(key_hex.trim()).map_err(|_| "http.film.data_key is not hex".to_string())?;
    Sm4Gcm::new_from_slice(&key).map_err(|_| "http.film.data_key must be 128 bits (32 hex digits)".to_string())
}

/// Whether a stored value is sealed.
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

/// Encrypt `plain` for the film `film_id`.
pub fn seal(key_hex: &str, film_id: &str, plain: &str) -> Result<String, String> {
    let nonce: [u8; 12] = rand::random();
    let sealed = cipher(key_hex)?
        .encrypt(&nonce.into(), Payload { msg: plain.as_bytes(), aad: film_id.as_bytes() })
        .map_err(|_| "encryption failed".to_string())?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Ok(format!("{PREFIX}{}", B64.encode(out)))
}

/// Decrypt what [`seal`] made for the same film.
pub fn open(key_hex: &str, film_id: &str, stored: &str) -> Result<String, String> {
    let bytes = stored.strip_prefix(PREFIX).and_then(|b| B64.decode(b).ok()).ok_or("not a sealed value")?;
    if bytes.len() < 12 + 16 {
        return Err("sealed value too short".into());
    }
    let (nonce, sealed) = bytes.split_at(12);
    let plain = cipher(key_hex)?
        .decrypt(nonce.into(), Payload { msg: sealed, aad: film_id.as_bytes() })
        .map_err(|_| "the sealed value does not open with this key (was http.film.data_key changed?)".to_string())?;
    String::from_utf8(plain).map_err(|_| "sealed value is not text".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdeffedcba9876543210";

    #[test]
    fn sealed_phone_numbers_open_only_for_their_film_and_key() {
        let sealed = seal(KEY, "F1", "13812345678").unwrap();
        assert!(is_sealed(&sealed) && !sealed.contains("13812345678"));
        assert_ne!(sealed, seal(KEY, "F1", "13812345678").unwrap(), "a fresh nonce each time");
        assert_eq!(open(KEY, "F1", &sealed).unwrap(), "13812345678");
        assert!(open(KEY, "F2", &sealed).is_err(), "bound to its film");
        assert!(open("00000000000000000000000000000000", "F1", &sealed).is_err(), "and to its key");
        assert!(seal("abc", "F1", "x").is_err());
    }

    #[test]
    fn a_tampered_sealed_value_does_not_open() {
        let sealed = seal(KEY, "F1", "13812345678").unwrap();
        let mut bytes = B64.decode(sealed.strip_prefix(PREFIX).unwrap()).unwrap();
        for i in [0, 12, bytes.len() - 1] {
            bytes[i] ^= 1;
            assert!(open(KEY, "F1", &format!("{PREFIX}{}", B64.encode(&bytes))).is_err(), "byte {i} flipped");
            bytes[i] ^= 1;
        }
        assert_eq!(open(KEY, "F1", &format!("{PREFIX}{}", B64.encode(&bytes))).unwrap(), "13812345678");
        assert!(open(KEY, "F1", &format!("{PREFIX}{}", B64.encode(&bytes[..bytes.len() - 1]))).is_err(), "truncated");
        assert!(open(KEY, "F1", &format!("{PREFIX}{}", B64.encode(&bytes[..20]))).is_err(), "too short");
        assert!(open(KEY, "F1", "13812345678").is_err() && !is_sealed("13812345678"), "plain text is not sealed");
    }

    /// GB/T 32907 appendix A.1: the standard's own test vector, through the
    /// block cipher this module uses.
    #[test]
    #[allow(deprecated)] // generic-array 0.14, as the RustCrypto 0.10 traits take it
    fn sm4_matches_the_standard_vector() {
        use aes_gcm::aead::generic_array::GenericArray;
        use sm4::cipher::{BlockEncrypt, KeyInit};
        let key = hex::decode(KEY).unwrap();
        let mut block = GenericArray::clone_from_slice(&key);
        Sm4::new_from_slice(&key).unwrap().encrypt_block(&mut block);
        assert_eq!(hex::encode(block), "681edf34d206965e86b3e94f536e4246");
    }
}
