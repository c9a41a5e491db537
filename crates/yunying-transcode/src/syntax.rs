//! Transfer syntax UIDs and the codec that decodes each.

use crate::TranscodeError;

/// How the frames of a transfer syntax are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    /// Uncompressed; `big_endian` for Explicit VR Big Endian.
    Native { big_endian: bool },
    /// RLE Lossless (PS3.5 Annex G).
    Rle,
    /// DCT-based JPEG: baseline 8-bit and extended 12-bit.
    JpegDct,
    /// Lossless JPEG (Process 14, any predictor or SV1).
    JpegLossless,
    /// JPEG-LS, lossless and near-lossless.
    JpegLs,
    /// JPEG 2000 and High-Throughput JPEG 2000, lossless or not.
    Jpeg2000,
}

/// The codec for a transfer syntax, or why there is none.
pub(crate) fn codec(transfer_syntax_uid: &str) -> Result<Codec, TranscodeError> {
    // UIDs read from a dataset may keep their NUL or space padding.
    let uid = transfer_syntax_uid.trim_end_matches(['\0', ' ']);
    let codec = match uid {
        // Implicit VR LE, Explicit VR LE, Deflated Explicit VR LE (the
        // caller inflates the data set, so its frames are plain LE).
        "1.2.840.10008.1.2" | "1.2.840.10008.1.2.1" | "1.2.840.10008.1.2.1.99" => Codec::Native { big_endian: false },
        "1.2.840.10008.1.2.2" => Codec::Native { big_endian: true },
        "1.2.840.10008.1.2.5" => Codec::Rle,
        // JPEG Baseline (Process 1), JPEG Extended (Process 2 & 4).
        "1.2.840.10008.1.2.4.50" | "1.2.840.10008.1.2.4.51" => Codec::JpegDct,
        // JPEG Lossless (Process 14) and its SV1 flavour.
        "1.2.840.10008.1.2.4.57" | "1.2.840.10008.1.2.4.70" => Codec::JpegLossless,
        "1.2.840.10008.1.2.4.80" | "1.2.840.10008.1.2.4.81" => Codec::JpegLs,
        // JPEG 2000 (lossless only, and lossy), HTJ2K (lossless, lossless
        // RPCL, lossy).
        "1.2.840.10008.1.2.4.90"
        | "1.2.840.10008.1.2.4.91"
        | "1.2.840.10008.1.2.4.201"
        | "1.2.840.10008.1.2.4.202"
        | "1.2.840.10008.1.2.4.203" => Codec::Jpeg2000,
        _ => return Err(TranscodeError::UnsupportedTransferSyntax(uid.to_owned())),
    };
    Ok(codec)
}

/// Whether [`decode_frame`](crate::decode_frame) handles this transfer
/// syntax, so that a server can refuse (406) before reading any pixel data.
/// False for video (MPEG-2, H.264, HEVC), JPIP, JPEG XL and unknown UIDs.
pub fn can_decode(transfer_syntax_uid: &str) -> bool {
    codec(transfer_syntax_uid).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_and_unknown_syntaxes_are_refused() {
        for uid in ["1.2.840.10008.1.2.4.100", "1.2.840.10008.1.2.4.102", "1.2.840.10008.1.2.4.107", "1.2.840.10008.1.2.4.94", "", "1.2.3"]
        {
            assert!(!can_decode(uid), "{uid}");
        }
    }

    #[test]
    fn padded_uids_are_accepted() {
        assert!(can_decode("1.2.840.10008.1.2.4.50\0"));
        assert!(can_decode("1.2.840.10008.1.2.2 "));
        assert_eq!(codec("1.2.840.10008.1.2.2").unwrap(), Codec::Native { big_endian: true });
    }
}
