//! MLLP (HL7 v2 Minimal Lower Layer Protocol, release 2) framing: a
//! message travels as `0x0B` payload `0x1C 0x0D`. [`Deframer`] takes the
//! bytes a connection reads and hands out whole payloads; a byte outside a
//! frame (other than CR/LF between frames), a frame end that is not
//! `0x1C 0x0D`, a start byte inside a frame, or a payload larger than the
//! limit is a [`FrameError`], after which the connection is closed.

use thiserror::Error;

/// Start block.
pub const START_BLOCK: u8 = 0x0B;
/// End block, followed by [`CARRIAGE_RETURN`].
pub const END_BLOCK: u8 = 0x1C;
/// The byte after the end block.
pub const CARRIAGE_RETURN: u8 = 0x0D;

/// A stream that is not MLLP, or past the size limit.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// A byte other than the start block where a frame should begin.
    #[error("byte 0x{0:02X} outside an MLLP frame")]
    OutsideFrame(u8),
    /// The end block is not followed by a carriage return.
    #[error("MLLP end block not followed by CR")]
    BadEnd,
    /// A start block inside a frame.
    #[error("MLLP start block inside a frame")]
    UnexpectedStart,
    /// A payload larger than the limit (possibly not yet complete).
    #[error("MLLP frame larger than {limit} bytes")]
    TooLarge {
        /// The configured limit.
        limit: usize,
    },
}

/// Wrap a payload in an MLLP frame.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 3);
    out.push(START_BLOCK);
    out.extend_from_slice(payload);
    out.extend_from_slice(&[END_BLOCK, CARRIAGE_RETURN]);
    out
}

/// Splits a byte stream into MLLP payloads, holding at most one frame
/// (plus one read) in memory.
#[derive(Debug)]
pub struct Deframer {
    buffer: Vec<u8>,
    /// How far the current frame has been searched for its end.
    scanned: usize,
    max_payload: usize,
}

impl Deframer {
    /// A deframer refusing payloads larger than `max_payload` bytes.
    pub fn new(max_payload: usize) -> Deframer {
        Deframer { buffer: Vec::new(), scanned: 1, max_payload }
    }

    /// Append bytes read from the connection.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Whether part of a frame has been received (its start, not its end).
    pub fn in_frame(&self) -> bool {
        self.buffer.first() == Some(&START_BLOCK)
    }

    /// The next whole payload, `None` until one has arrived.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let between = self.buffer.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
        if between > 0 {
            self.buffer.drain(..between);
        }
        match self.buffer.first() {
            None => return Ok(None),
            Some(&START_BLOCK) => {}
            Some(&other) => return Err(FrameError::OutsideFrame(other)),
        }
        let from = self.scanned.max(1);
        let found = self.buffer[from..].iter().position(|&b| b == END_BLOCK || b == START_BLOCK).map(|i| i + from);
        let Some(at) = found else {
            self.scanned = self.buffer.len();
            return self.check_size(self.buffer.len() - 1).map(|()| None);
        };
        if self.buffer[at] == START_BLOCK {
            return Err(FrameError::UnexpectedStart);
        }
        self.check_size(at - 1)?;
        match self.buffer.get(at + 1) {
            None => {
                self.scanned = at;
                Ok(None)
            }
            Some(&CARRIAGE_RETURN) => {
                let payload = self.buffer[1..at].to_vec();
                self.buffer.drain(..at + 2);
                self.scanned = 1;
                Ok(Some(payload))
            }
            Some(_) => Err(FrameError::BadEnd),
        }
    }

    fn check_size(&self, payload: usize) -> Result<(), FrameError> {
        if payload > self.max_payload { Err(FrameError::TooLarge { limit: self.max_payload }) } else { Ok(()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(d: &mut Deframer) -> Result<Vec<Vec<u8>>, FrameError> {
        let mut out = Vec::new();
        while let Some(f) = d.next_frame()? {
            out.push(f);
        }
        Ok(out)
    }

    #[test]
    fn frames_split_anywhere_are_reassembled_in_order() {
        let stream = [frame(b"MSH|one"), b"\r\n".to_vec(), frame(b"MSH|two"), frame(b"")].concat();
        for cut in 0..stream.len() {
            let mut d = Deframer::new(100);
            d.extend(&stream[..cut]);
            let mut got = all(&mut d).unwrap();
            d.extend(&stream[cut..]);
            got.extend(all(&mut d).unwrap());
            assert_eq!(got, [b"MSH|one".to_vec(), b"MSH|two".to_vec(), Vec::new()], "cut at {cut}");
            assert!(!d.in_frame());
        }
    }

    #[test]
    fn bytes_outside_a_frame_are_refused() {
        let mut d = Deframer::new(100);
        d.extend(b"GET / HTTP/1.1\r\n");
        assert_eq!(d.next_frame(), Err(FrameError::OutsideFrame(b'G')));
        let mut d = Deframer::new(100);
        d.extend(&[frame(b"MSH|a"), b"x".to_vec()].concat());
        assert_eq!(d.next_frame(), Ok(Some(b"MSH|a".to_vec())));
        assert_eq!(d.next_frame(), Err(FrameError::OutsideFrame(b'x')));
    }

    #[test]
    fn bad_ends_and_nested_starts_are_refused() {
        let mut d = Deframer::new(100);
        d.extend(b"\x0bMSH|a\x1cX");
        assert_eq!(d.next_frame(), Err(FrameError::BadEnd));
        let mut d = Deframer::new(100);
        d.extend(b"\x0bMSH|a\x0bMSH|b\x1c\r");
        assert_eq!(d.next_frame(), Err(FrameError::UnexpectedStart));
    }

    #[test]
    fn oversize_frames_are_refused_before_their_end_arrives() {
        let mut d = Deframer::new(10);
        d.extend(&frame(&[b'x'; 10]));
        assert_eq!(d.next_frame(), Ok(Some(vec![b'x'; 10])));
        d.extend(&[START_BLOCK]);
        d.extend(&[b'x'; 10]);
        assert_eq!(d.next_frame(), Ok(None));
        d.extend(b"x");
        assert_eq!(d.next_frame(), Err(FrameError::TooLarge { limit: 10 }));
        let mut d = Deframer::new(10);
        d.extend(&frame(&[b'x'; 11]));
        assert_eq!(d.next_frame(), Err(FrameError::TooLarge { limit: 10 }));
    }
}
