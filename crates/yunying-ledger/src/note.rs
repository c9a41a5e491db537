//! Signed notes (`c2sp.org/signed-note`): a text ending in a newline, a blank
//! line, then signature lines `— <key name> base64(key ID || signature)`.
//! Parsing is strict and bounded: at most [`MAX_NOTE_BYTES`], at most
//! [`MAX_SIGNATURES`] signature lines, UTF-8 without control characters other
//! than newline. Which signatures count is [`crate::keys`]'s business.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The largest note accepted: 1 MiB.
pub const MAX_NOTE_BYTES: usize = 1 << 20;
/// The most signature lines a note may carry (the spec asks for at least 16).
pub const MAX_SIGNATURES: usize = 100;
/// The longest key name accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 256;
/// The largest decoded signature (key ID included); post-quantum ones fit.
pub const MAX_SIGNATURE_BYTES: usize = 5 * 1024;

const DASH: &str = "\u{2014} ";

/// Why a text is not a well-formed note.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// Over [`MAX_NOTE_BYTES`].
    #[error("the note is larger than {MAX_NOTE_BYTES} bytes")]
    TooLarge,
    /// Not UTF-8, or a control character other than newline.
    #[error("the note is not UTF-8 text without control characters")]
    BadText,
    /// No blank line separating the text from signatures, or no signature.
    #[error("the note has no signature block")]
    NoSignatures,
    /// Over [`MAX_SIGNATURES`] signature lines.
    #[error("the note has more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    /// A signature line that is not `— name base64`.
    #[error("malformed signature line")]
    BadSignatureLine,
    /// A key name that is empty, too long, or holds a space or a plus.
    #[error("malformed key name")]
    BadName,
}

/// One signature line, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The 32-bit key ID (first four bytes, big-endian).
    pub key_id: u32,
    /// The signature bytes after the key ID.
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The signature line, with its final newline.
    pub fn to_line(&self) -> String {
        let mut bytes = self.key_id.to_be_bytes().to_vec();
        bytes.extend_from_slice(&self.signature);
        format!("{DASH}{} {}\n", self.name, STANDARD.encode(bytes))
    }

    /// Parses one signature line (with or without its final newline).
    pub fn parse_line(line: &str) -> Result<NoteSignature, NoteError> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let rest = line.strip_prefix(DASH).ok_or(NoteError::BadSignatureLine)?;
        let (name, b64) = rest.split_once(' ').ok_or(NoteError::BadSignatureLine)?;
        check_name(name)?;
        if b64.len() > MAX_SIGNATURE_BYTES * 4 / 3 + 4 {
            return Err(NoteError::BadSignatureLine);
        }
        let bytes = STANDARD.decode(b64).map_err(|_| NoteError::BadSignatureLine)?;
        if bytes.len() < 5 || STANDARD.encode(&bytes) != b64 {
            return Err(NoteError::BadSignatureLine);
        }
        let key_id = u32::from_be_bytes(bytes[..4].try_into().expect("four bytes"));
        Ok(NoteSignature { name: name.to_string(), key_id, signature: bytes[4..].to_vec() })
    }
}

/// A parsed note: its text (final newline included) and its signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The signed text, ending in a newline.
    pub text: String,
    /// The signatures, in order.
    pub signatures: Vec<NoteSignature>,
}

impl Note {
    /// Parses a signed note.
    pub fn parse(note: &str) -> Result<Note, NoteError> {
        if note.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge);
        }
        check_text(note)?;
        // The text ends at the last blank line.
        let split = note.rfind("\n\n").ok_or(NoteError::NoSignatures)?;
        let text = &note[..split + 1];
        let block = &note[split + 2..];
        if block.is_empty() || !block.ends_with('\n') {
            return Err(NoteError::NoSignatures);
        }
        let lines: Vec<&str> = block[..block.len() - 1].split('\n').collect();
        if lines.len() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        let signatures = lines.into_iter().map(NoteSignature::parse_line).collect::<Result<Vec<_>, _>>()?;
        Ok(Note { text: text.to_string(), signatures })
    }

    /// The note as text: the text, a blank line, the signature lines.
    pub fn to_text(&self) -> String {
        let mut out = self.text.clone();
        out.push('\n');
        for s in &self.signatures {
            out.push_str(&s.to_line());
        }
        out
    }
}

/// Adds signature lines (a witness's `add-checkpoint` response body, say)
/// to a signed note, checking each line's form and the signature limit.
/// Which of them verify is for [`crate::checkpoint::open`] to say.
pub fn append_signatures(note: &str, lines: &str) -> Result<String, NoteError> {
    let mut parsed = Note::parse(note)?;
    if !lines.is_empty() && !lines.ends_with('\n') {
        return Err(NoteError::BadSignatureLine);
    }
    for line in lines.lines() {
        if parsed.signatures.len() == MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        parsed.signatures.push(NoteSignature::parse_line(line)?);
    }
    let out = parsed.to_text();
    if out.len() > MAX_NOTE_BYTES {
        return Err(NoteError::TooLarge);
    }
    Ok(out)
}

/// Checks a key name: non-empty, at most [`MAX_NAME_BYTES`], no Unicode space,
/// no plus, no control character.
pub fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES || name.chars().any(|c| c.is_whitespace() || c == '+' || c.is_control()) {
        return Err(NoteError::BadName);
    }
    Ok(())
}

/// Checks note text: ends in a newline, no control characters but newline.
pub fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') || text.chars().any(|c| (c as u32) < 0x20 && c != '\n') {
        return Err(NoteError::BadText);
    }
    Ok(())
}
