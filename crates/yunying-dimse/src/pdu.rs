//! PDUs on the wire: framing, zero-copy P-DATA, and the small PDUs we send.
//!
//! Association requests are decoded with dicom-ul's PDU reader and accepts
//! encoded with its writer; P-DATA-TF is split here straight from the read
//! buffer so data fragments reach the spool file without another copy.

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub const ASSOCIATE_RQ: u8 = 0x01;
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

/// Read one PDU of at most `max` body bytes.
pub async fn read_pdu<R: AsyncRead + Unpin>(r: &mut R, max: u32, timeout: Duration) -> Result<RawPdu, PduError> {
    let read = async {
        let mut header = [0u8; 6];
        match r.read_exact(&mut header).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(PduError::Closed),
            Err(e) => return Err(e.into()),
        }
        let len = u32::from_be_bytes([header[2], header[3], header[4], header[5]]);
        if len > max {
            return Err(PduError::TooLarge { len, max });
        }
        let mut body = BytesMut::zeroed(len as usize);
        r.read_exact(&mut body).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => PduError::Malformed("connection closed inside a PDU"),
            _ => PduError::Io(e),
        })?;
        Ok(RawPdu { pdu_type: header[0], body: body.freeze() })
    };
    tokio::time::timeout(timeout, read).await.map_err(|_| PduError::Timeout)?
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

/// Send a command message as one P-DATA-TF with a single, last PDV.
pub async fn write_command<W: AsyncWrite + Unpin>(w: &mut W, context_id: u8, command: &[u8]) -> std::io::Result<()> {
    let mut pdu = Vec::with_capacity(12 + command.len());
    pdu.push(P_DATA_TF);
    pdu.push(0);
    pdu.extend_from_slice(&(6 + command.len() as u32).to_be_bytes());
    pdu.extend_from_slice(&(2 + command.len() as u32).to_be_bytes());
    pdu.push(context_id);
    pdu.push(0x03); // command, last fragment
    pdu.extend_from_slice(command);
    w.write_all(&pdu).await
}

/// A-RELEASE-RP.
pub async fn write_release_rp<W: AsyncWrite + Unpin>(w: &mut W) -> std::io::Result<()> {
    w.write_all(&[RELEASE_RP, 0, 0, 0, 0, 4, 0, 0, 0, 0]).await
}

/// A-ABORT from the service provider with a reason (0 = not specified,
/// 2 = unexpected PDU, 6 = invalid PDU parameter).
pub async fn write_abort<W: AsyncWrite + Unpin>(w: &mut W, reason: u8) -> std::io::Result<()> {
    w.write_all(&[ABORT, 0, 0, 0, 0, 4, 0, 0, 2, reason]).await
}

/// A-ASSOCIATE-RJ: result 1 permanent / 2 transient; source 1 service user,
/// 2 ACSE provider, 3 presentation provider; reason per PS3.8 9.3.4.
pub async fn write_reject<W: AsyncWrite + Unpin>(w: &mut W, result: u8, source: u8, reason: u8) -> std::io::Result<()> {
    w.write_all(&[0x03, 0, 0, 0, 0, 4, 0, result, source, reason]).await
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

    #[test]
    fn bad_pdv_lengths_are_malformed() {
        for body in [vec![0, 0, 0, 1, 1], vec![0, 0, 0, 50, 1, 3, 0], vec![0, 0, 0, 0, 1, 3]] {
            assert!(split_pdata(Bytes::from(body)).is_err());
        }
    }
}
