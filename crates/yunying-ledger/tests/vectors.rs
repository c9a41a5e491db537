//! Standard vectors: SM3 (GB/T 32905-2016 examples), Ed25519 (RFC 8032
//! test 1), the signed note and key of Go's `golang.org/x/mod/sumdb/note`
//! documentation; SM2 sign/verify round trips and refusals; key text and
//! PKCS#8 PEM round trips.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use yunying_ledger::keyfile;
use yunying_ledger::keys::key_id;
use yunying_ledger::{HashAlg, KeyError, Note, SigType, Signer, VerifierKey};

#[test]
fn sm3_matches_gbt_32905_examples() {
    assert_eq!(HashAlg::Sm3.digest(&[b"abc"]).to_hex(), "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
    let abcd16 = b"abcd".repeat(16);
    assert_eq!(HashAlg::Sm3.digest(&[&abcd16]).to_hex(), "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732");
    // Parts are concatenated.
    assert_eq!(HashAlg::Sm3.digest(&[b"ab", b"c"]), HashAlg::Sm3.digest(&[b"abc"]));
}

fn go_private_key(name: &str, seed: &[u8; 32]) -> String {
    let mut tk = vec![0x01];
    tk.extend(ed25519_public(seed));
    let mut raw = vec![0x01];
    raw.extend(seed);
    format!("PRIVATE+KEY+{name}+{:08x}+{}", key_id(name, &tk), STANDARD.encode(raw))
}

/// The public key of a seed, read back from the verifier key of a signer
/// loaded from its PKCS#8 form.
fn ed25519_public(seed: &[u8; 32]) -> [u8; 32] {
    let s = Signer::from_pkcs8_pem("seed", SigType::Ed25519, &pkcs8_ed25519(seed)).unwrap();
    let text = s.verifier().to_string();
    let b64 = text.splitn(3, '+').nth(2).unwrap();
    STANDARD.decode(b64).unwrap()[1..].try_into().unwrap()
}

/// PKCS#8 v1 for an Ed25519 seed (RFC 8410): a fixed 16-byte prefix.
fn pkcs8_ed25519(seed: &[u8; 32]) -> String {
    let mut der = hex::decode("302e020100300506032b657004220420").unwrap();
    der.extend(seed);
    format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", STANDARD.encode(der))
}

#[test]
fn ed25519_matches_rfc8032_test_1() {
    let seed: [u8; 32] = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60").unwrap().try_into().unwrap();
    assert_eq!(hex::encode(ed25519_public(&seed)), "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    let signer = Signer::from_go_private_key(&go_private_key("rfc8032", &seed)).unwrap();
    let sig = signer.sign("", 0).unwrap();
    assert_eq!(
        hex::encode(&sig.signature),
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    );
    signer.verifier().verify("", &sig.signature).unwrap();
}

const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const GO_SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_NOTE: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

#[test]
fn go_sumdb_note_example_parses_verifies_and_is_reproduced() {
    let key = VerifierKey::parse(GO_VKEY).unwrap();
    assert_eq!(key.to_string(), GO_VKEY);
    assert_eq!(key.kind(), SigType::Ed25519);
    let note = Note::parse(GO_NOTE).unwrap();
    assert_eq!(note.text, GO_TEXT);
    assert_eq!(note.signatures.len(), 1);
    assert!(key.matches(&note.signatures[0]));
    assert_eq!(key.verify(&note.text, &note.signatures[0].signature), Ok(None));
    assert_eq!(key.verify(&note.text.replace("cryptography", "cryptographY"), &note.signatures[0].signature), Err(KeyError::BadSignature));
    // Ed25519 is deterministic: signing the text again gives the same note.
    let signer = Signer::from_go_private_key(GO_SKEY).unwrap();
    assert_eq!(signer.verifier().to_string(), GO_VKEY);
    let again = Note { text: GO_TEXT.to_string(), signatures: vec![signer.sign(GO_TEXT, 0).unwrap()] };
    assert_eq!(again.to_text(), GO_NOTE);
}

#[test]
fn verifier_keys_are_parsed_strictly() {
    assert!(VerifierKey::parse(GO_VKEY).is_ok());
    assert_eq!(VerifierKey::parse(&GO_VKEY.replace("c74f20a3", "c74f20a4")).unwrap_err(), KeyError::WrongKeyId);
    assert_eq!(VerifierKey::parse(&GO_VKEY.replace("c74f20a3", "C74F20A3")).unwrap_err(), KeyError::Malformed);
    assert!(VerifierKey::parse(&GO_VKEY.replace("PeterNeumann", "Peter Neumann")).is_err());
    assert!(VerifierKey::parse(&GO_VKEY[..GO_VKEY.len() - 2]).is_err());
    assert!(VerifierKey::parse("PeterNeumann+c74f20a3").is_err());
    assert!(VerifierKey::parse("").is_err());
    // Type 0x02 is ECDSA: not ours.
    let mut tk = vec![0x02];
    tk.extend([7u8; 32]);
    let k = format!("x+{:08x}+{}", key_id("x", &tk), STANDARD.encode(&tk));
    assert_eq!(VerifierKey::parse(&k).unwrap_err(), KeyError::UnknownType);
}

#[test]
fn sm2_cosignatures_round_trip_and_refuse_tampering() {
    let signer = Signer::generate("log.example/sm2", SigType::Sm2Cosignature).unwrap();
    let vkey = signer.verifier().to_string();
    let parsed = VerifierKey::parse(&vkey).unwrap();
    assert_eq!(parsed.to_string(), vkey);
    assert_eq!(parsed.kind(), SigType::Sm2Cosignature);
    assert_eq!(parsed.key_id(), signer.verifier().key_id());
    let text = "log.example/sm2\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    let sig = signer.sign(text, 1_700_000_000).unwrap();
    assert_eq!(sig.signature.len(), 8 + 64);
    assert_eq!(parsed.verify(text, &sig.signature), Ok(Some(1_700_000_000)));
    // Another text, another time, another key, a flipped bit: refused.
    assert!(parsed.verify(&text.replace('3', "4"), &sig.signature).is_err());
    let mut later = sig.signature.clone();
    later[7] ^= 1;
    assert!(parsed.verify(text, &later).is_err());
    let mut flipped = sig.signature.clone();
    flipped[40] ^= 1;
    assert!(parsed.verify(text, &flipped).is_err());
    let other = Signer::generate("log.example/sm2", SigType::Sm2Cosignature).unwrap();
    assert!(other.verifier().verify(text, &sig.signature).is_err());
    assert_ne!(other.verifier().key_id(), parsed.key_id());
    assert!(parsed.verify(text, &sig.signature[..71]).is_err());
}

#[test]
fn private_keys_round_trip_through_pkcs8_pem() {
    for kind in [SigType::Ed25519, SigType::Ed25519Cosignature, SigType::Sm2Cosignature] {
        let signer = Signer::generate("k.example/one", kind).unwrap();
        let pem = signer.to_pkcs8_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
        let loaded = Signer::from_pkcs8_pem("k.example/one", kind, &pem).unwrap();
        assert_eq!(loaded.verifier().to_string(), signer.verifier().to_string());
        let sig = loaded.sign("a\n", 5).unwrap();
        signer.verifier().verify("a\n", &sig.signature).unwrap();
    }
    // Through files: the private key only for its owner, never overwritten.
    let dir = tempfile::tempdir().unwrap();
    let signer = Signer::generate("k.example/file", SigType::Sm2Cosignature).unwrap();
    let (sk, vk) = (dir.path().join("log.key"), dir.path().join("log.vkey"));
    keyfile::write_private_key(&sk, &signer).unwrap();
    keyfile::write_verifier_key(&vk, signer.verifier()).unwrap();
    assert!(keyfile::write_private_key(&sk, &signer).is_err());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&sk).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let back = keyfile::read_private_key(&sk, "k.example/file", SigType::Sm2Cosignature).unwrap();
    assert_eq!(back.verifier().to_string(), signer.verifier().to_string());
    assert_eq!(keyfile::read_verifier_key(&vk).unwrap().to_string(), signer.verifier().to_string());
    assert!(keyfile::read_private_key(&sk, "k.example/file", SigType::Ed25519Cosignature).is_err());
    // An SM2 PEM is not an Ed25519 key, and the other way round.
    let sm2 = Signer::generate("k", SigType::Sm2Cosignature).unwrap().to_pkcs8_pem().unwrap();
    let ed = Signer::generate("k", SigType::Ed25519).unwrap().to_pkcs8_pem().unwrap();
    assert_eq!(Signer::from_pkcs8_pem("k", SigType::Ed25519, &sm2).unwrap_err(), KeyError::BadPrivateKey);
    assert_eq!(Signer::from_pkcs8_pem("k", SigType::Sm2Cosignature, &ed).unwrap_err(), KeyError::BadPrivateKey);
}

#[test]
fn cosignature_key_ids_follow_tlog_cosignature() {
    // Type 0x04 key ID: SHA-256(name || "\n" || 0x04 || key)[:4].
    let seed = [9u8; 32];
    let public = ed25519_public(&seed);
    let pem = pkcs8_ed25519(&seed);
    let s = Signer::from_pkcs8_pem("witness.example/w1", SigType::Ed25519Cosignature, &pem).unwrap();
    let mut tk = vec![0x04];
    tk.extend(public);
    assert_eq!(s.verifier().key_id(), key_id("witness.example/w1", &tk));
    assert_eq!(s.verifier().to_string(), format!("witness.example/w1+{:08x}+{}", key_id("witness.example/w1", &tk), STANDARD.encode(&tk)));
}

/// A checkpoint of a public CT log (Ed25519 type 0x01 log key, plus an RFC
/// 6962 signature under the same name that is ignored) cosigned by public
/// witnesses; `remora.n621.de` signs `cosignature/v1` (type 0x04). Copied
/// from the tests of a Python signed-note library (transparency-dev key
/// material, public).
const CT_CHECKPOINT: &str = "arche2025h1.staging.ct.transparency.dev
1432088532
U7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=

— arche2025h1.staging.ct.transparency.dev zTM8sQAAAZ5W0WdjBAMARjBEAiBjW5IQf9pvsYLfQFX6hoGREPMHbdQ3urbllzalApkptQIgIpwtEroeW2BXaHAI4kJXFbon5Ch9MNL5zRNZ55lvGt0=
— arche2025h1.staging.ct.transparency.dev ui8GwCF1+kWqZrxGdhj4aX3gcw7XUlXQQabg/27lefwhUkzbC3NygNI75MdhL1bfTW9g8Ei59RA23oHP7Ry1k3ZFWwQ=
— transparency.dev/DEV:witness-little-garden 2AQqhwAAAABqEiEgzgFIqqhbUoDwjMWE6UP8nd8/KYTzwZ2rhIgcqoXHAwVkjZr4AscylP3v7sEodkRAErumC2q44vdgJY096st5BQ==
— witness1.smartit.nu/witness1 pIyCDwAAAABqEiEghIp82KWebrw7/oHQwlTAm3g2RKS4+eebl8eO0WH+/iEcxZ75W3u5hNI7TOQtmJbqmNWVuE0tgh0XwzdZsDsUAQ==
— remora.n621.de 2net5wAAAABqEiEgPlfF3V06o0Y+fHM+J5J9s27wgxxcOVSpZ/2g/KSiXCg9DEZI+aVCIobWX9sXTynk5XeU/zZ0WBxtqB0DrAWfBw==
— witness.stagemole.eu Z/euoAAAAABqEiEgw0i+7g2ENfDAWHmtRzCfKTHSDwYDJA2NmKeGi9Y8FtEyOUvVr+AJmIY/2TUFucgKi7lI7cUiOvKFYe/TmN9DAg==
";
const CT_LOG_KEY: &str = "arche2025h1.staging.ct.transparency.dev+ba2f06c0+AU0vHmlGCS/PdN8b2OaGmKprLI8HKM+dJ472xgFYh15f";
const CT_WITNESS_KEY: &str = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2";

#[test]
fn a_public_ct_checkpoint_and_its_tlog_cosignature_verify() {
    use yunying_ledger::checkpoint;
    let log = VerifierKey::parse(CT_LOG_KEY).unwrap();
    let witness = VerifierKey::parse(CT_WITNESS_KEY).unwrap();
    assert_eq!(witness.kind(), SigType::Ed25519Cosignature);
    let opened = checkpoint::open(CT_CHECKPOINT, &log, std::slice::from_ref(&witness)).unwrap();
    assert_eq!(opened.checkpoint.size, 1_432_088_532);
    assert_eq!(opened.log_time, None);
    assert_eq!(opened.cosignatures.len(), 1);
    assert_eq!(opened.cosignatures[0].name, "remora.n621.de");
    assert_eq!(opened.cosignatures[0].timestamp, Some(0x6a12_2120));
    // Another size: the log's and the witness's signatures both fail.
    let clobbered = CT_CHECKPOINT.replacen("1432088532", "42", 1);
    assert!(checkpoint::open(&clobbered, &log, &[]).is_err());
    let note = Note::parse(&clobbered).unwrap();
    let cosig = note.signatures.iter().find(|s| witness.matches(s)).unwrap();
    assert_eq!(witness.verify(&note.text, &cosig.signature), Err(KeyError::BadSignature));
}

/// An SM2 signature made by another implementation (gmssl 3.2.2, pure
/// Python, with a fixed private key and nonce, SM3 and the default ID) over
/// our `cosignature/v1` message verifies here; changed by a bit, it does not.
#[test]
fn an_sm2_signature_made_by_gmssl_verifies() {
    let public =
        "09f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13";
    let sig =
        "5d44e7259009bf175c44f4e3e751dd3fad60329c89edc36ecdc3865ddc92afefe2bcdce91dcf8c740faaecfd398031e5a60f7df6984d174aff58230093d80884";
    let name = "yunying.example/audit";
    let mut tk = yunying_ledger::keys::SM2_COSIGNATURE_TYPE.to_vec();
    tk.push(0x04);
    tk.extend(hex::decode(public).unwrap());
    let key = VerifierKey::parse(&format!("{name}+{:08x}+{}", key_id(name, &tk), STANDARD.encode(&tk))).unwrap();
    assert_eq!(key.kind(), SigType::Sm2Cosignature);
    let text = "yunying.example/audit\n42\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    let mut signature = 1_765_000_000u64.to_be_bytes().to_vec();
    signature.extend(hex::decode(sig).unwrap());
    assert_eq!(key.verify(text, &signature), Ok(Some(1_765_000_000)));
    signature[70] ^= 1;
    assert_eq!(key.verify(text, &signature), Err(KeyError::BadSignature));
}
