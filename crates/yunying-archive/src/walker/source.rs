//! Where the walker reads from: a seekable file or slice, or a forward-only
//! stream (an inflating reader), optionally capped.

use std::io::{self, Read, Seek, SeekFrom};

/// A byte source the walker can read and skip in.
pub trait Source {
    /// Fill `buf` completely, or report how many bytes were available.
    fn read_full(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Skip `n` bytes; returns how many were actually skipped (fewer at EOF).
    fn skip(&mut self, n: u64) -> io::Result<u64>;
}

/// A seekable source of known length (a file or a slice).
pub struct SeekSource<R> {
    inner: R,
    pos: u64,
    end: u64,
}

impl<R: Read + Seek> SeekSource<R> {
    /// Walk `inner` from its current position to `end` (absolute offset).
    pub fn new(mut inner: R, end: u64) -> io::Result<Self> {
        let pos = inner.stream_position()?;
        Ok(SeekSource { inner, pos, end })
    }
}

impl<R: Read + Seek> Source for SeekSource<R> {
    fn read_full(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = read_full(&mut self.inner, buf)?;
        self.pos += n as u64;
        Ok(n)
    }
    fn skip(&mut self, n: u64) -> io::Result<u64> {
        let n = n.min(self.end.saturating_sub(self.pos));
        self.inner.seek(SeekFrom::Current(n as i64))?;
        self.pos += n;
        Ok(n)
    }
}

/// A forward-only source (a decompressing reader); skips by reading.
pub struct StreamSource<R>(pub R);

impl<R: Read> Source for StreamSource<R> {
    fn read_full(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_full(&mut self.0, buf)
    }
    fn skip(&mut self, n: u64) -> io::Result<u64> {
        io::copy(&mut (&mut self.0).take(n), &mut io::sink())
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// A reader that fails once more than `max` bytes have come out of it: an
/// inflating reader would otherwise turn a few megabytes into terabytes.
pub struct Capped<R> {
    inner: R,
    left: u64,
    max: u64,
}

impl<R: Read> Capped<R> {
    pub fn new(inner: R, max: u64) -> Self {
        Capped { inner, left: max, max }
    }
}

/// The error a [`Capped`] reader gives past its limit.
#[derive(Debug, thiserror::Error)]
#[error("more than {0} bytes once inflated")]
pub struct TooLong(pub u64);

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // Past the limit only if there is more to read.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::other(TooLong(self.max))),
            };
        }
        let want = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// Whether an I/O error is a [`Capped`] reader's limit.
pub fn is_too_long(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<TooLong>())
}
