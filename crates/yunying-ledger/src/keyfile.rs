//! Key files: the private key as PKCS#8 PEM in a file only its owner can
//! read, the verifier key as one line of text. The only files the library
//! touches, and only when asked to.

use std::io::Write as _;
use std::path::Path;

use crate::keys::{KeyError, SigType, Signer, VerifierKey};

/// The largest key file read.
const MAX_KEY_FILE_BYTES: u64 = 16 * 1024;

/// A key file that cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file system refused.
    #[error("key file: {0}")]
    Io(#[from] std::io::Error),
    /// The file is larger than a key file can be.
    #[error("key file larger than {MAX_KEY_FILE_BYTES} bytes")]
    TooLarge,
    /// The content is not a key of the expected kind.
    #[error("key file: {0}")]
    Key(#[from] KeyError),
}

/// Writes `signer`'s private key as PKCS#8 PEM to a new file (mode 0600 on
/// Unix). An existing file is never overwritten.
pub fn write_private_key(path: &Path, signer: &Signer) -> Result<(), KeyFileError> {
    let pem = signer.to_pkcs8_pem()?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(pem.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// Reads a private key written by [`write_private_key`] (or any PKCS#8 PEM
/// key of the algorithm `kind` needs) and names it `name`.
pub fn read_private_key(path: &Path, name: &str, kind: SigType) -> Result<Signer, KeyFileError> {
    Ok(Signer::from_pkcs8_pem(name, kind, &read_small(path)?)?)
}

/// Writes the verifier key, one line.
pub fn write_verifier_key(path: &Path, key: &VerifierKey) -> Result<(), KeyFileError> {
    std::fs::write(path, format!("{key}\n"))?;
    Ok(())
}

/// Reads a verifier key: the first line that is neither empty nor a `#` comment.
pub fn read_verifier_key(path: &Path) -> Result<VerifierKey, KeyFileError> {
    let text = read_small(path)?;
    let line = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).unwrap_or("");
    Ok(VerifierKey::parse(line)?)
}

fn read_small(path: &Path) -> Result<String, KeyFileError> {
    if std::fs::metadata(path)?.len() > MAX_KEY_FILE_BYTES {
        return Err(KeyFileError::TooLarge);
    }
    let bytes = std::fs::read(path)?;
    String::from_utf8(bytes).map_err(|_| KeyFileError::Key(KeyError::Malformed))
}
