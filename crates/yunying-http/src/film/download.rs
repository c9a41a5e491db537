//! The original DICOM files of a film as a ZIP with a DICOMDIR (planned by
//! the domain: `yunying_film`'s `download.rs`), streamed:
//! each stored object is read from the object store in pieces and written
//! through as a stored (uncompressed: DICOM pixel data does not deflate
//! much, and speed matters more) ZIP entry whose CRC and sizes follow it in
//! a data descriptor. Memory stays bounded whatever the study's size; only
//! the DICOMDIR (a few hundred bytes per instance) is built in memory.
//! Entries of 4 GiB or more carry ZIP64 sizes (the size is known before the
//! entry starts), and offsets past 4 GiB switch the central directory to
//! ZIP64.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::IntoResponse;
use tokio::sync::mpsc;
use yunying_film::DownloadPlan;

use super::{Answer, Client, session_film};
use crate::AppState;
use crate::extract::Path;

/// Bytes read from the store per step.
const CHUNK: u64 = 1 << 20;

/// `GET /api/film/{id}/download`: the domain plans the file set (and
/// refuses a film that allows no download); this streams it.
pub(crate) async fn zip(State(s): State<AppState>, Client(client): Client, headers: HeaderMap, Path(film_id): Path<String>) -> Answer {
    let film = session_film(&s, &headers, &film_id).await?;
    let DownloadPlan { directory, objects } = s.films.download_plan(&film, &client).await?;
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let (films, stopping) = (s.films.clone(), s.background.stopping());
    s.background.spawn(async move {
        let store = films.archive().store().clone();
        let result = tokio::select! {
            result = write_zip(&tx, &store, Bytes::from(directory), &objects) => result,
            _ = stopping => Err("interrupted: the archive node was stopped".to_string()),
        };
        if let Err(e) = &result {
            let _ = tx.send(Err(std::io::Error::other(e.clone()))).await;
        }
        films.download_finished(&film, &client, objects.len(), &result).await;
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    let mut r = Body::from_stream(stream).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"yunying-dicom.zip\""));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(r)
}

/// Write the archive to `tx`; its length, or why it stopped.
async fn write_zip(
    tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
    store: &std::sync::Arc<dyn yunying_archive::ObjectStore>,
    directory: Bytes,
    objects: &[(String, String)],
) -> Result<u64, String> {
    let mut zip = ZipWriter::default();
    let send = |bytes: Vec<u8>| async move { tx.send(Ok(Bytes::from(bytes))).await.map_err(|_| "the client went away".to_string()) };
    // DICOMDIR first.
    send(zip.begin("DICOMDIR", directory.len() as u64)).await?;
    zip.data(&directory);
    tx.send(Ok(directory)).await.map_err(|_| "the client went away".to_string())?;
    send(zip.end()).await?;
    for (name, key) in objects {
        let (st, k) = (store.clone(), key.clone());
        let size =
            tokio::task::spawn_blocking(move || st.size(&k)).await.map_err(|e| e.to_string())?.map_err(|e| format!("object store: {e}"))?;
        send(zip.begin(name, size)).await?;
        let mut at = 0;
        while at < size {
            let len = CHUNK.min(size - at);
            let (st, k) = (store.clone(), key.clone());
            let piece = tokio::task::spawn_blocking(move || st.get_range(&k, at, len))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("object store: {e}"))?;
            if piece.len() as u64 != len {
                return Err(format!("object store returned {} of {len} bytes", piece.len()));
            }
            zip.data(&piece);
            send(piece).await?;
            at += len;
        }
        send(zip.end()).await?;
    }
    let tail = zip.finish();
    send(tail).await?;
    Ok(zip.offset)
}

/// One entry's place in the archive, for the central directory.
struct Entry {
    name: String,
    offset: u64,
    crc: u32,
    size: u64,
    /// 4 GiB or more: its sizes are ZIP64 (8 bytes) in every record.
    large: bool,
}

/// The ZIP64 extended information extra field's header ID.
const ZIP64_EXTRA: u16 = 0x0001;

fn is_large(size: u64) -> bool {
    size >= u32::MAX as u64
}

/// A ZIP writer that never seeks: entries are stored, their CRC and size
/// come after the data (general purpose flag bit 3).
#[derive(Default)]
struct ZipWriter {
    entries: Vec<Entry>,
    offset: u64,
    crc: crc32fast::Hasher,
    size: u64,
}

/// Flags: data descriptor (bit 3), UTF-8 names (bit 11).
const FLAGS: u16 = 0x0808;
/// 1980-01-01 00:00 in MS-DOS time and date: the files carry their own dates.
const DOS_TIME: u16 = 0;
const DOS_DATE: u16 = 0x21;

impl ZipWriter {
    /// The local header of an entry of `size` bytes (known before it
    /// starts: a large one announces ZIP64 sizes here, as readers require
    /// before they read its 8-byte data descriptor).
    fn begin(&mut self, name: &str, size: u64) -> Vec<u8> {
        let large = is_large(size);
        let mut h = Vec::with_capacity(30 + name.len() + 20);
        h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        h.extend_from_slice(&(if large { 45u16 } else { 20 }).to_le_bytes());
        h.extend_from_slice(&FLAGS.to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes()); // stored
        h.extend_from_slice(&DOS_TIME.to_le_bytes());
        h.extend_from_slice(&DOS_DATE.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes()); // CRC: in the descriptor
        let size32 = if large { u32::MAX } else { 0 };
        h.extend_from_slice(&size32.to_le_bytes());
        h.extend_from_slice(&size32.to_le_bytes());
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(&(if large { 20u16 } else { 0 }).to_le_bytes());
        h.extend_from_slice(name.as_bytes());
        if large {
            h.extend_from_slice(&ZIP64_EXTRA.to_le_bytes());
            h.extend_from_slice(&16u16.to_le_bytes());
            h.extend_from_slice(&size.to_le_bytes());
            h.extend_from_slice(&size.to_le_bytes());
        }
        self.entries.push(Entry { name: name.to_string(), offset: self.offset, crc: 0, size: 0, large });
        self.offset += h.len() as u64;
        self.crc = crc32fast::Hasher::new();
        self.size = 0;
        h
    }

    fn data(&mut self, bytes: &[u8]) {
        self.crc.update(bytes);
        self.size += bytes.len() as u64;
        self.offset += bytes.len() as u64;
    }

    fn end(&mut self) -> Vec<u8> {
        let crc = std::mem::take(&mut self.crc).finalize();
        let entry = self.entries.last_mut().expect("begin before end");
        entry.crc = crc;
        entry.size = self.size;
        debug_assert_eq!(entry.large, is_large(self.size), "an entry's size is the one announced");
        let mut d = Vec::with_capacity(24);
        d.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
        d.extend_from_slice(&crc.to_le_bytes());
        if entry.large {
            d.extend_from_slice(&self.size.to_le_bytes());
            d.extend_from_slice(&self.size.to_le_bytes());
        } else {
            d.extend_from_slice(&(self.size as u32).to_le_bytes());
            d.extend_from_slice(&(self.size as u32).to_le_bytes());
        }
        self.offset += d.len() as u64;
        d
    }

    /// The central directory and its end records.
    fn finish(&mut self) -> Vec<u8> {
        let start = self.offset;
        let mut cd = Vec::new();
        for e in &self.entries {
            let far = e.offset >= u32::MAX as u64;
            let zip64 = far || e.large;
            // The ZIP64 field holds the sizes of a large entry, then the offset of a far one.
            let mut extra = Vec::new();
            if e.large {
                extra.extend_from_slice(&e.size.to_le_bytes());
                extra.extend_from_slice(&e.size.to_le_bytes());
            }
            if far {
                extra.extend_from_slice(&e.offset.to_le_bytes());
            }
            cd.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            cd.extend_from_slice(&(0x0300u16 | if zip64 { 45 } else { 20 }).to_le_bytes()); // made by: Unix
            cd.extend_from_slice(&(if zip64 { 45u16 } else { 20 }).to_le_bytes());
            cd.extend_from_slice(&FLAGS.to_le_bytes());
            cd.extend_from_slice(&0u16.to_le_bytes());
            cd.extend_from_slice(&DOS_TIME.to_le_bytes());
            cd.extend_from_slice(&DOS_DATE.to_le_bytes());
            cd.extend_from_slice(&e.crc.to_le_bytes());
            let size32 = if e.large { u32::MAX } else { e.size as u32 };
            cd.extend_from_slice(&size32.to_le_bytes());
            cd.extend_from_slice(&size32.to_le_bytes());
            cd.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
            cd.extend_from_slice(&(if zip64 { 4 + extra.len() as u16 } else { 0 }).to_le_bytes());
            cd.extend_from_slice(&0u16.to_le_bytes()); // comment
            cd.extend_from_slice(&0u16.to_le_bytes()); // disk
            cd.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
            cd.extend_from_slice(&(0o100644u32 << 16).to_le_bytes()); // -rw-r--r--
            cd.extend_from_slice(&(if far { u32::MAX } else { e.offset as u32 }).to_le_bytes());
            cd.extend_from_slice(e.name.as_bytes());
            if zip64 {
                cd.extend_from_slice(&ZIP64_EXTRA.to_le_bytes());
                cd.extend_from_slice(&(extra.len() as u16).to_le_bytes());
                cd.extend_from_slice(&extra);
            }
        }
        let size = cd.len() as u64;
        self.offset += size;
        let count = self.entries.len() as u64;
        let zip64 = start >= u32::MAX as u64 || count >= u16::MAX as u64;
        if zip64 {
            let record = self.offset;
            cd.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
            cd.extend_from_slice(&44u64.to_le_bytes());
            cd.extend_from_slice(&0x032Du16.to_le_bytes());
            cd.extend_from_slice(&45u16.to_le_bytes());
            cd.extend_from_slice(&0u32.to_le_bytes());
            cd.extend_from_slice(&0u32.to_le_bytes());
            cd.extend_from_slice(&count.to_le_bytes());
            cd.extend_from_slice(&count.to_le_bytes());
            cd.extend_from_slice(&size.to_le_bytes());
            cd.extend_from_slice(&start.to_le_bytes());
            cd.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
            cd.extend_from_slice(&0u32.to_le_bytes());
            cd.extend_from_slice(&record.to_le_bytes());
            cd.extend_from_slice(&1u32.to_le_bytes());
        }
        cd.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        cd.extend_from_slice(&0u16.to_le_bytes());
        cd.extend_from_slice(&0u16.to_le_bytes());
        let n16 = if zip64 { u16::MAX } else { count as u16 };
        cd.extend_from_slice(&n16.to_le_bytes());
        cd.extend_from_slice(&n16.to_le_bytes());
        cd.extend_from_slice(&(if zip64 { u32::MAX } else { size as u32 }).to_le_bytes());
        cd.extend_from_slice(&(if zip64 { u32::MAX } else { start as u32 }).to_le_bytes());
        cd.extend_from_slice(&0u16.to_le_bytes());
        self.offset = self.offset + cd.len() as u64 - size;
        cd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Python's zipfile reads the archive, checks every CRC and finds the contents.
    #[test]
    fn streamed_zip_is_readable_by_unzip() {
        let mut zip = ZipWriter::default();
        let mut out = Vec::new();
        for (name, body) in [("DICOMDIR", b"first".as_slice()), ("DICOM/ST000001/IM000001", &[7u8; 3000][..])] {
            out.extend(zip.begin(name, body.len() as u64));
            zip.data(body);
            out.extend_from_slice(body);
            out.extend(zip.end());
        }
        out.extend(zip.finish());
        assert_eq!(zip.offset, out.len() as u64);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.zip");
        std::fs::write(&path, &out).unwrap();
        let Ok(listing) = std::process::Command::new("python3")
            .args(["-c", "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print([(i.filename, i.file_size) for i in z.infolist()])"])
            .arg(&path)
            .output()
        else {
            panic!("python3 is needed");
        };
        assert!(listing.status.success(), "{}", String::from_utf8_lossy(&listing.stderr));
        assert_eq!(String::from_utf8_lossy(&listing.stdout).trim(), "[('DICOMDIR', 5), ('DICOM/ST000001/IM000001', 3000)]");
    }

    /// An entry over 4 GiB and entries past 4 GiB (ZIP64 sizes and
    /// offsets), written as the server streams them, read back by Python's
    /// zipfile with every CRC checked. The big entry's zeros are a hole in a
    /// sparse file: the disk holds a few kilobytes.
    #[test]
    fn entries_over_and_past_four_gib_are_zip64() {
        use std::io::{Seek, SeekFrom, Write};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.zip");
        let mut file = std::fs::File::create(&path).unwrap();
        let mut zip = ZipWriter::default();
        let big = (4u64 << 30) + 12345;
        let zeros = vec![0u8; 1 << 20];
        file.write_all(&zip.begin("DICOMDIR", 5)).unwrap();
        zip.data(b"first");
        file.write_all(b"first").unwrap();
        file.write_all(&zip.end()).unwrap();
        file.write_all(&zip.begin("DICOM/ST000001/IM000001", big)).unwrap();
        let mut left = big;
        while left > 0 {
            let n = left.min(zeros.len() as u64);
            zip.data(&zeros[..n as usize]);
            left -= n;
        }
        file.seek(SeekFrom::Current(big as i64)).unwrap();
        file.write_all(&zip.end()).unwrap();
        for i in 2..=3 {
            let body = format!("after the big one {i}");
            file.write_all(&zip.begin(&format!("DICOM/ST000001/IM00000{i}"), body.len() as u64)).unwrap();
            zip.data(body.as_bytes());
            file.write_all(body.as_bytes()).unwrap();
            file.write_all(&zip.end()).unwrap();
        }
        file.write_all(&zip.finish()).unwrap();
        drop(file);
        assert_eq!(zip.offset, std::fs::metadata(&path).unwrap().len());
        let check = "import sys, zipfile\n\
z = zipfile.ZipFile(sys.argv[1])\n\
assert z.testzip() is None\n\
assert z.read('DICOM/ST000001/IM000003') == b'after the big one 3'\n\
print([(i.filename, i.file_size, i.header_offset > 0xFFFFFFFF) for i in z.infolist()])";
        let out = std::process::Command::new("python3").args(["-c", check]).arg(&path).output().expect("python3 is needed");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!(
                "[('DICOMDIR', 5, False), ('DICOM/ST000001/IM000001', {big}, False), \
                 ('DICOM/ST000001/IM000002', 19, True), ('DICOM/ST000001/IM000003', 19, True)]"
            )
        );
    }
}
