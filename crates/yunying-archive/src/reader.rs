//! A `Read + Seek` view of a stored object, fetched in ranges, so the same
//! dataset walk works on a filesystem or a remote object store.

use std::io::{self, Read, Seek, SeekFrom};

use yunying_store::ObjectStore;

const CHUNK: u64 = 256 * 1024;

pub struct ObjectReader<'a> {
    store: &'a dyn ObjectStore,
    key: &'a str,
    len: u64,
    pos: u64,
    buf: Vec<u8>,
    buf_start: u64,
    /// A read from the store failed (as opposed to the bytes being wrong).
    store_failed: bool,
}

impl<'a> ObjectReader<'a> {
    pub fn open(store: &'a dyn ObjectStore, key: &'a str) -> io::Result<Self> {
        let len = store.size(key).map_err(io::Error::other)?;
        Ok(ObjectReader { store, key, len, pos: 0, buf: Vec::new(), buf_start: 0, store_failed: false })
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether a read from the store failed: an error reading through this
    /// reader is then the store's, not the object's.
    pub fn store_failed(&self) -> bool {
        self.store_failed
    }
}

impl Read for ObjectReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || out.is_empty() {
            return Ok(0);
        }
        let in_buf = self.pos >= self.buf_start && self.pos < self.buf_start + self.buf.len() as u64;
        if !in_buf {
            let n = CHUNK.min(self.len - self.pos);
            self.buf = self.store.get_range(self.key, self.pos, n).map_err(|e| {
                self.store_failed = true;
                io::Error::other(e)
            })?;
            self.buf_start = self.pos;
        }
        let offset = (self.pos - self.buf_start) as usize;
        let n = out.len().min(self.buf.len() - offset);
        out[..n].copy_from_slice(&self.buf[offset..offset + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for ObjectReader<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => p as i128,
            SeekFrom::End(d) => self.len as i128 + d as i128,
            SeekFrom::Current(d) => self.pos as i128 + d as i128,
        };
        if pos < 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "seek before start"));
        }
        self.pos = pos as u64;
        Ok(self.pos)
    }
}
