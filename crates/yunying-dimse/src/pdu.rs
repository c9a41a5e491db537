//! PDUs on the wire: framing, zero-copy P-DATA, and the small PDUs we send.
//!
//! Association requests are decoded with dicom-ul's PDU reader and accepts
//! encoded with its writer; P-DATA-TF is split here straight from the read
//! buffer so data fragments reach the spool file without another copy.

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub const ASSOCIATE_RQ: u8 = 0x01;
pub const ASSOCIATE_AC: u8 = 0x02;
pub const ASSOCIATE_RJ: u8 = 0x03;
pub const P_DATA_TF: u8 = 0x04;
pub const RELEASE_RQ: u8 = 0x05;
pub const RELEASE_RP: u8 = 0x06;
pub const ABORT: u8 = 0x07;

/// One PDU as read: its type and body (without the 6-byte header).
pub struct RawPdu {
    pub pdu_type: u8,
    pub body: Bytes,
}

/// One presentation data value of a P-DATA-TF.
pub struct Pdv {
    pub context_id: u8,
    pub is_command: bool,
    pub is_last: bool,
    pub data: Bytes,
}

#[derive(Debug, thiserror::Error)]
pub enum PduError {
    #[error("peer closed the connection")]
    Closed,
    #[error("timed out waiting for the peer")]
    Timeout,
    #[error("PDU of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: u32, max: u32 },
    #[error("malformed PDU: {0}")]
    Malformed(&'static str),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Reads PDUs from a connection through a buffer, so that a read can be
/// abandoned (cancel safe) and resumed: an operation in progress polls the
/// connection for a C-CANCEL without losing a partially received PDU.
pub struct PduReader {
    buf: BytesMut,
}

impl Default for PduReader {
    fn default() -> Self {
        PduReader { buf: BytesMut::with_capacity(64 * 1024) }
    }
}

impl PduReader {
    /// Read one PDU of at most `max` body bytes. Cancel safe.
    pub async fn next<R: AsyncRead + Unpin>(&mut self, r: &mut R, max: u32) -> Result<RawPdu, PduError> {
        loop {
            if self.buf.len() >= 6 {
                let len = u32::from_be_bytes([self.buf[2], self.buf[3], self.buf[4], self.buf[5]]);
                if len > max {
                    return Err(PduError::TooLarge { len, max });
                }
                let total = 6 + len as usize;
                if self.buf.len() >= total {
                    let mut pdu = self.buf.split_to(total);
                    let pdu_type = pdu[0];
                    pdu.advance(6);
                    return Ok(RawPdu { pdu_type, body: pdu.freeze() });
                }
                self.buf.reserve(total - self.buf.len());
            } else {
                self.buf.reserve(64 * 1024);
            }
            let n = r.read_buf(&mut self.buf).await?;
            if n == 0 {
                return Err(if self.buf.is_empty() { PduError::Closed } else { PduError::Malformed("connection closed inside a PDU") });
            }
        }
    }

    /// [`PduReader::next`] with a time limit.
    pub async fn next_within<R: AsyncRead + Unpin>(&mut self, r: &mut R, max: u32, timeout: Duration) -> Result<RawPdu, PduError> {
        tokio::time::timeout(timeout, self.next(r, max)).await.map_err(|_| PduError::Timeout)?
    }

    /// A PDU that has already arrived (or arrives without waiting), if any.
    pub async fn ready<R: AsyncRead + Unpin>(&mut self, r: &mut R, max: u32) -> Option<Result<RawPdu, PduError>> {
        tokio::select! {
            biased;
            pdu = self.next(r, max) => Some(pdu),
            _ = std::future::ready(()) => None,
        }
    }
}

/// Decode an A-ASSOCIATE-RQ read by [`PduReader`] (its body, at most `max`
/// bytes) with dicom-ul's decoder; `None` when it is malformed.
pub fn associate_rq(body: &[u8], max: u32) -> Option<dicom_ul::pdu::AssociationRQ> {
    let mut whole = Vec::with_capacity(6 + body.len());
    whole.extend_from_slice(&[ASSOCIATE_RQ, 0]);
    whole.extend_from_slice(&(body.len() as u32).to_be_bytes());
    whole.extend_from_slice(body);
    match dicom_ul::read_pdu(&whole[..], max, false) {
        Ok(Some(dicom_ul::Pdu::AssociationRQ(rq))) => Some(rq),
        _ => None,
    }
}

/// Split a P-DATA-TF body into its presentation data values (zero-copy).
pub fn split_pdata(mut body: Bytes) -> Result<Vec<Pdv>, PduError> {
    let mut pdvs = Vec::with_capacity(1);
    while body.has_remaining() {
        if body.len() < 6 {
            return Err(PduError::Malformed("truncated PDV item header"));
        }
        let len = body.get_u32() as usize;
        if len < 2 || len > body.len() {
            return Err(PduError::Malformed("PDV item length out of bounds"));
        }
        let context_id = body.get_u8();
        let control = body.get_u8();
        let data = body.split_to(len - 2);
        pdvs.push(Pdv { context_id, is_command: control & 1 != 0, is_last: control & 2 != 0, data });
    }
    Ok(pdvs)
}

/// Send a message: its command, then its data set (if any) in P-DATA-TF
/// PDUs no larger than the peer's maximum (`max_pdu`, 0 = no limit).
pub async fn write_message<W: AsyncWrite + Unpin>(
    w: &mut W,
    context_id: u8,
    command: &[u8],
    data: Option<&[u8]>,
    max_pdu: u32,
) -> std::io::Result<()> {
    write_fragments(w, context_id, true, command, true, max_pdu).await?;
    if let Some(data) = data {
        write_fragments(w, context_id, false, data, true, max_pdu).await?;
    }
    w.flush().await
}

/// Value bytes per PDV when each PDV is one PDU of at most `max_pdu` (the
/// peer's limit on the PDU length field; 0 = no limit).
fn piece_len(max_pdu: u32) -> usize {
    (if max_pdu == 0 { DEFAULT_SEND_PDU } else { (max_pdu as usize).clamp(1024, 4 << 20) }) - 6
}

/// The P-DATA-TF header and PDV item header in front of a `len`-byte value.
fn pdv_header(context_id: u8, is_command: bool, last: bool, len: usize) -> [u8; 12] {
    let mut header = [0u8; 12];
    header[0] = P_DATA_TF;
    header[2..6].copy_from_slice(&(6 + len as u32).to_be_bytes());
    header[6..10].copy_from_slice(&(2 + len as u32).to_be_bytes());
    header[10] = context_id;
    header[11] = u8::from(is_command) | if last { 0x02 } else { 0 };
    header
}

/// Send bytes of a command or data set as PDVs of one PDU each, the last
/// one flagged as such when `last`.
pub async fn write_fragments<W: AsyncWrite + Unpin>(
    w: &mut W,
    context_id: u8,
    is_command: bool,
    bytes: &[u8],
    last: bool,
    max_pdu: u32,
) -> std::io::Result<()> {
    let mut pieces: Vec<&[u8]> = bytes.chunks(piece_len(max_pdu)).collect();
    if pieces.is_empty() {
        pieces.push(&[]);
    }
    let count = pieces.len();
    for (i, piece) in pieces.into_iter().enumerate() {
        let header = pdv_header(context_id, is_command, last && i + 1 == count, piece.len());
        // Header and value in one vectored write: no copy of the value.
        let mut slices = [std::io::IoSlice::new(&header), std::io::IoSlice::new(piece)];
        let mut slices: &mut [std::io::IoSlice<'_>] = &mut slices;
        while !slices.is_empty() {
            let n = w.write_vectored(slices).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            std::io::IoSlice::advance_slices(&mut slices, n);
        }
    }
    Ok(())
}

/// Send `start..end` of a file as the data set's PDVs, one PDU each, the
/// last flagged as such. On Linux the bytes go from the page cache to a
/// plain socket with `sendfile` (the PDU header is sent with `MSG_MORE` so
/// header and value leave in the same segments); over TLS, and elsewhere,
/// they are read in pieces.
pub async fn send_file_fragments(
    socket: &mut crate::tls::Stream,
    context_id: u8,
    file: &std::fs::File,
    start: u64,
    end: u64,
    max_pdu: u32,
) -> std::io::Result<()> {
    let chunk = piece_len(max_pdu) as u64;
    let mut offset = start;
    loop {
        let len = (end - offset).min(chunk);
        let last = offset + len == end;
        let header = pdv_header(context_id, false, last, len as usize);
        match socket.plain() {
            Some(tcp) => send_piece(tcp, &header, file, offset, len).await?,
            None => copy_piece(socket, &header, file, offset, len).await?,
        }
        offset += len;
        if last {
            return socket.flush().await;
        }
    }
}

/// A PDV read from the file and written through `w` (TLS), 256 KiB at a time.
async fn copy_piece<W: AsyncWrite + Unpin>(w: &mut W, header: &[u8], file: &std::fs::File, offset: u64, len: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    const STEP: u64 = 256 * 1024;
    w.write_all(header).await?;
    let mut value = vec![0; len.min(STEP) as usize];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(STEP) as usize;
        file.read_exact_at(&mut value[..n], offset + done)?;
        w.write_all(&value[..n]).await?;
        done += n as u64;
    }
    Ok(())
}

#[cfg(target_os = "linux")]
async fn send_piece(socket: &mut tokio::net::TcpStream, header: &[u8], file: &std::fs::File, offset: u64, len: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    use tokio::io::Interest;
    let (sock, src) = (socket.as_raw_fd(), file.as_raw_fd());
    let mut head = 0;
    while head < header.len() {
        socket.writable().await?;
        // SAFETY: the pointer and length describe the live `header` slice;
        // send only reads from it.
        let sent = socket.try_io(Interest::WRITABLE, || {
            let rest = &header[head..];
            let n = unsafe { libc::send(sock, rest.as_ptr().cast(), rest.len(), libc::MSG_MORE | libc::MSG_NOSIGNAL) };
            if n < 0 { Err(std::io::Error::last_os_error()) } else { Ok(n as usize) }
        });
        match sent {
            Ok(n) => head += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    let mut done = 0;
    while done < len {
        socket.writable().await?;
        // SAFETY: both descriptors are open for the duration of the call and
        // `pos` is a valid i64 the kernel updates.
        let sent = socket.try_io(Interest::WRITABLE, || {
            let mut pos = (offset + done) as libc::off_t;
            let n = unsafe { libc::sendfile(sock, src, &mut pos, (len - done) as usize) };
            if n < 0 { Err(std::io::Error::last_os_error()) } else { Ok(n as u64) }
        });
        match sent {
            Ok(0) => {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the stored object is shorter than its index entry"));
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
async fn send_piece(socket: &mut tokio::net::TcpStream, header: &[u8], file: &std::fs::File, offset: u64, len: u64) -> std::io::Result<()> {
    copy_piece(socket, header, file, offset, len).await
}

/// PDU size we send when the peer sets no limit.
// (Every writer here flushes: a TLS stream may hold bytes until then.)
const DEFAULT_SEND_PDU: usize = 256 * 1024;

/// A-RELEASE-RQ.
pub async fn write_release_rq<W: AsyncWrite + Unpin>(w: &mut W) -> std::io::Result<()> {
    w.write_all(&[RELEASE_RQ, 0, 0, 0, 0, 4, 0, 0, 0, 0]).await?;
    w.flush().await
}

/// A-RELEASE-RP.
pub async fn write_release_rp<W: AsyncWrite + Unpin>(w: &mut W) -> std::io::Result<()> {
    w.write_all(&[RELEASE_RP, 0, 0, 0, 0, 4, 0, 0, 0, 0]).await?;
    w.flush().await
}

/// A-ABORT from the service provider with a reason (0 = not specified,
/// 2 = unexpected PDU, 6 = invalid PDU parameter).
pub async fn write_abort<W: AsyncWrite + Unpin>(w: &mut W, reason: u8) -> std::io::Result<()> {
    w.write_all(&[ABORT, 0, 0, 0, 0, 4, 0, 0, 2, reason]).await?;
    w.flush().await
}

/// A-ASSOCIATE-RJ: result 1 permanent / 2 transient; source 1 service user,
/// 2 ACSE provider, 3 presentation provider; reason per PS3.8 9.3.4.
pub async fn write_reject<W: AsyncWrite + Unpin>(w: &mut W, result: u8, source: u8, reason: u8) -> std::io::Result<()> {
    w.write_all(&[0x03, 0, 0, 0, 0, 4, 0, result, source, reason]).await?;
    w.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdata_with_two_pdvs_splits() {
        let mut body = Vec::new();
        for (ctx, ctl, data) in [(1u8, 0x03u8, &b"cmd"[..]), (1, 0x00, &b"data!"[..])] {
            body.extend_from_slice(&(2 + data.len() as u32).to_be_bytes());
            body.push(ctx);
            body.push(ctl);
            body.extend_from_slice(data);
        }
        let pdvs = split_pdata(Bytes::from(body)).unwrap();
        assert_eq!(pdvs.len(), 2);
        assert!(pdvs[0].is_command && pdvs[0].is_last);
        assert!(!pdvs[1].is_command && !pdvs[1].is_last);
        assert_eq!(&pdvs[1].data[..], b"data!");
    }

    /// A file sent as PDVs arrives whole, in order, in PDUs no larger than
    /// the peer's maximum, with only the last one flagged last.
    #[tokio::test]
    async fn a_file_range_goes_out_as_pdus_within_the_peer_limit() {
        let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let path = std::env::temp_dir().join(format!("yunying-pdu-test-{}", std::process::id()));
        std::fs::write(&path, &bytes).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sender = tokio::spawn(async move {
            let mut socket = crate::tls::Stream::Plain(tokio::net::TcpStream::connect(addr).await.unwrap());
            // From offset 1000 to the end, 16 KiB PDUs.
            send_file_fragments(&mut socket, 5, &file, 1000, 300_000, 16_384).await.unwrap();
        });
        let (mut peer, _) = listener.accept().await.unwrap();
        let mut reader = PduReader::default();
        let (mut got, mut lasts) = (Vec::new(), Vec::new());
        while got.len() < 299_000 {
            let pdu = reader.next(&mut peer, 16_384).await.unwrap();
            assert_eq!(pdu.pdu_type, P_DATA_TF);
            for pdv in split_pdata(pdu.body).unwrap() {
                assert_eq!(pdv.context_id, 5);
                assert!(!pdv.is_command);
                lasts.push(pdv.is_last);
                got.extend_from_slice(&pdv.data);
            }
        }
        sender.await.unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(got, bytes[1000..]);
        assert_eq!(lasts.iter().filter(|l| **l).count(), 1);
        assert_eq!(lasts.last(), Some(&true));
        assert_eq!(lasts.len(), 299_000usize.div_ceil(16_384 - 6));
    }

    #[test]
    fn bad_pdv_lengths_are_malformed() {
        for body in [vec![0, 0, 0, 1, 1], vec![0, 0, 0, 50, 1, 3, 0], vec![0, 0, 0, 0, 1, 3]] {
            assert!(split_pdata(Bytes::from(body)).is_err());
        }
    }
}
