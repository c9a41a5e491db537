//! Decoding of single frames of DICOM pixel data, and rendering of frames to
//! JPEG or PNG for display.
//!
//! Two entry points:
//!
//! * [`decode_frame`] turns one frame, in any transfer syntax of
//!   [`can_decode`], into native pixels exactly as Explicit VR Little Endian
//!   would hold them (for WADO-RS frames transcoded to `1.2.840.10008.1.2.1`);
//! * [`render`] takes the same frame through the display pipeline (modality
//!   rescale, VOI window or LUT, MONOCHROME1 inversion, colour to RGB, fit to
//!   a viewport) and encodes it (for `/rendered` and `/thumbnail`).
//!
//! Codecs: libjpeg-turbo for DCT JPEG (8- and 12-bit), `jpeg-decoder` for
//! lossless JPEG, CharLS for JPEG-LS, OpenJPEG for JPEG 2000 and HTJ2K, and
//! our own RLE decoder (PS3.5 Annex G).
//!
//! Architecture invariant: no I/O of any kind (network, database, files),
//! no JSON, no async. Bytes and plain structs in, bytes out; callers run it
//! on a blocking thread. Bad input gives a [`TranscodeError`], never a panic.

mod codec_log;
mod encode;
mod htj2k;
mod j2k;
mod jpeg;
mod jpegls;
mod limits;
mod native;
mod render;
mod resize;
mod rle;
mod syntax;

pub use htj2k::{HTJ2K_LOSSLESS, encode_htj2k_lossless};
pub use limits::{Limits, check_declared_size, check_within, limits, set_limits};
pub use syntax::can_decode;

use syntax::Codec;

/// The Image Pixel module (and the bits of Modality/VOI LUT rendering
/// needs), as plain values.
#[derive(Debug, Clone, PartialEq)]
pub struct PixelInfo {
    pub rows: u16,
    pub columns: u16,
    pub samples_per_pixel: u16,
    pub bits_allocated: u16,
    pub bits_stored: u16,
    pub high_bit: u16,
    /// 0 unsigned, 1 signed (two's complement).
    pub pixel_representation: u16,
    /// MONOCHROME1, MONOCHROME2, RGB, YBR_FULL, YBR_FULL_422, PALETTE COLOR,
    /// YBR_RCT, YBR_ICT, ...
    pub photometric_interpretation: String,
    pub planar_configuration: u16,
    pub number_of_frames: u32,
    /// 1.0 when absent.
    pub rescale_slope: f64,
    /// 0.0 when absent.
    pub rescale_intercept: f64,
    /// (center, width) pairs from WindowCenter/WindowWidth; may be empty.
    pub windows: Vec<(f64, f64)>,
    /// LINEAR (the default), LINEAR_EXACT or SIGMOID.
    pub voi_lut_function: Option<String>,
    /// The first item of the VOI LUT Sequence, if present.
    pub voi_lut: Option<Lut>,
    /// Red, green and blue palette LUTs, for PALETTE COLOR.
    pub palette: Option<[Lut; 3]>,
    /// Per-frame rescale and window of an enhanced multi-frame object (the
    /// Per-Frame Functional Groups, index = frame − 1); empty otherwise.
    /// What a frame's item lacks comes from the fields above, which hold
    /// the Shared Functional Groups' values when the top level has none.
    pub per_frame: Vec<FrameTransform>,
}

/// One frame's Pixel Value Transformation and Frame VOI LUT values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameTransform {
    /// (slope, intercept).
    pub rescale: Option<(f64, f64)>,
    /// (center, width) pairs.
    pub windows: Option<Vec<(f64, f64)>>,
    pub voi_lut_function: Option<String>,
}

impl PixelInfo {
    /// The description that applies to frame `index` (0-based): the
    /// frame's own rescale and window where its functional groups give them.
    pub fn for_frame(&self, index: usize) -> std::borrow::Cow<'_, PixelInfo> {
        let Some(t) = self.per_frame.get(index) else { return std::borrow::Cow::Borrowed(self) };
        let mut info = self.clone();
        info.per_frame = Vec::new();
        if let Some((slope, intercept)) = t.rescale {
            info.rescale_slope = slope;
            info.rescale_intercept = intercept;
        }
        if let Some(windows) = &t.windows {
            info.windows = windows.clone();
        }
        if t.voi_lut_function.is_some() {
            info.voi_lut_function = t.voi_lut_function.clone();
        }
        std::borrow::Cow::Owned(info)
    }
}

impl Default for PixelInfo {
    /// An empty 8-bit MONOCHROME2 image with no rescale and no VOI.
    fn default() -> Self {
        PixelInfo {
            rows: 0,
            columns: 0,
            samples_per_pixel: 1,
            bits_allocated: 8,
            bits_stored: 8,
            high_bit: 7,
            pixel_representation: 0,
            photometric_interpretation: "MONOCHROME2".to_owned(),
            planar_configuration: 0,
            number_of_frames: 1,
            rescale_slope: 1.0,
            rescale_intercept: 0.0,
            windows: Vec::new(),
            voi_lut_function: None,
            voi_lut: None,
            palette: None,
            per_frame: Vec::new(),
        }
    }
}

/// A lookup table: VOI LUT or one channel of a palette.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lut {
    /// Number of entries (0 means 65536), first mapped input value, bits per
    /// entry, as in LUT Descriptor. The first mapped value is read as signed
    /// when the pixel data are signed (rendering casts it through `i16` then).
    pub descriptor: [u32; 3],
    pub data: Vec<u16>,
}

/// One decoded frame, laid out as Explicit VR Little Endian holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Little-endian samples of `bits_allocated` bits, interleaved.
    pub bytes: Vec<u8>,
    /// The photometric interpretation of `bytes`: `RGB` for a frame that the
    /// codec converted (JPEG baseline YBR_FULL_422, JPEG 2000 YBR_RCT/ICT),
    /// otherwise the dataset's.
    pub photometric_interpretation: String,
    /// Always 0 (interleaved) for colour, 0 for monochrome.
    pub planar_configuration: u16,
}

/// Output format of [`render`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Jpeg,
    Png,
}

/// How [`render`] should present a frame.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderOptions {
    /// Window center, width and VOI LUT function from the request; overrides
    /// everything the dataset says.
    pub window: Option<(f64, f64, Option<String>)>,
    /// Fit inside (width, height), keeping the aspect ratio. A frame that
    /// already fits is never enlarged; a zero dimension means "no limit" on
    /// that axis.
    pub viewport: Option<(u32, u32)>,
    /// JPEG quality, 1..=100 (values outside are clamped).
    pub quality: u8,
    pub format: ImageFormat,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions { window: None, viewport: None, quality: 90, format: ImageFormat::Jpeg }
    }
}

/// Everything that can go wrong. None of these is a bug in the caller's
/// program: they describe the data (or what we do not support).
#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    /// The transfer syntax is unknown, or known and not decodable (video).
    #[error("transfer syntax {0} is not supported for decoding")]
    UnsupportedTransferSyntax(String),
    /// The data use a feature we do not handle.
    #[error("unsupported pixel data: {0}")]
    Unsupported(String),
    /// The Image Pixel attributes are inconsistent or out of range.
    #[error("invalid pixel description: {0}")]
    InvalidPixelInfo(String),
    /// A native frame is shorter than its attributes require.
    #[error("frame too short: {actual} bytes, {expected} needed")]
    FrameTooShort { expected: usize, actual: usize },
    /// The codec rejected the codestream.
    #[error("{codec} decoding failed: {message}")]
    Codec { codec: &'static str, message: String },
    /// The codestream decodes to something other than the attributes say.
    #[error("decoded {codec} frame does not match the dataset: {message}")]
    Mismatch { codec: &'static str, message: String },
    /// The dataset declares more pixels than the configured [`Limits`]
    /// allow; refused before anything is decoded or allocated.
    #[error("pixel data too large: {0}")]
    TooLarge(String),
    /// JPEG or PNG encoding failed.
    #[error("encoding the rendered image failed: {0}")]
    Encode(String),
}

/// Decode one frame to native pixels exactly as Explicit VR Little Endian
/// would hold them: little-endian samples of `bits_allocated` bits,
/// interleaved when `samples_per_pixel` is 3 (planar configuration 0).
///
/// `frame` is, for native transfer syntaxes (implicit/explicit VR little
/// endian, explicit VR big endian), the frame's raw bytes in the stored byte
/// order; for encapsulated syntaxes, the frame's fragments concatenated (one
/// complete codestream).
///
/// Native frames keep their bytes (a big-endian frame is byte-swapped; bits
/// outside Bits Stored are kept). Decompressed signed samples are
/// sign-extended from Bits Stored to Bits Allocated.
///
/// Nothing is allocated for the output before the dataset's declared size
/// has been checked against the process's [`Limits`] and the codestream's
/// header against the dataset (size, components, precision).
pub fn decode_frame(transfer_syntax_uid: &str, info: &PixelInfo, frame: &[u8]) -> Result<Decoded, TranscodeError> {
    let codec = syntax::codec(transfer_syntax_uid)?;
    native::validate(info)?;
    check_declared_size(info)?;
    if info.bits_allocated == 1 && !matches!(codec, Codec::Native { .. }) {
        return Err(TranscodeError::Unsupported("compressed 1-bit pixels".to_owned()));
    }
    let photometric = info.photometric_interpretation.trim().to_owned();
    let (bytes, photometric) = match codec {
        Codec::Native { big_endian } => (native::decode(info, frame, big_endian)?, photometric),
        Codec::Rle => (rle::decode(info, frame)?, photometric),
        Codec::JpegDct => {
            // libjpeg converts YCbCr to RGB, and leaves RGB streams alone.
            let bytes = jpeg::decode_dct(info, frame)?;
            let rgb = info.samples_per_pixel == 3;
            (bytes, if rgb { "RGB".to_owned() } else { photometric })
        }
        Codec::JpegLossless => (jpeg::decode_lossless(info, frame)?, photometric),
        Codec::JpegLs => (jpegls::decode(info, frame)?, photometric),
        Codec::Jpeg2000 => {
            // OpenJPEG undoes the component transform (MCT) of YBR_RCT/ICT.
            let bytes = j2k::decode(info, frame)?;
            let mct = matches!(photometric.as_str(), "YBR_RCT" | "YBR_ICT");
            (bytes, if mct { "RGB".to_owned() } else { photometric })
        }
    };
    Ok(Decoded { bytes, photometric_interpretation: photometric, planar_configuration: 0 })
}

/// One native frame (implicit/explicit VR little endian, explicit VR big
/// endian; `frame` in the stored byte order) as little-endian samples in the
/// layout its attributes declare: a planar frame (Planar Configuration 1)
/// stays planar, only the byte order changes. This is what a native frame
/// sent with the instance's own metadata must hold; [`decode_frame`], which
/// interleaves, is for callers that also say Planar Configuration 0.
pub fn native_frame_as_little_endian(transfer_syntax_uid: &str, info: &PixelInfo, frame: &[u8]) -> Result<Vec<u8>, TranscodeError> {
    let Codec::Native { big_endian } = syntax::codec(transfer_syntax_uid)? else {
        return Err(TranscodeError::Unsupported(format!("{transfer_syntax_uid} is not a native transfer syntax")));
    };
    native::validate(info)?;
    check_declared_size(info)?;
    native::to_little_endian(info, frame, big_endian)
}

/// The default rendering of one frame (JPEG) at full size and fitted inside
/// `thumbnail`, from one decode and one VOI pass: a frame's preview and
/// thumbnail at ingest, as [`render`] would make them one by one.
pub fn render_with_thumbnail(
    transfer_syntax_uid: &str,
    info: &PixelInfo,
    frame: &[u8],
    quality: u8,
    thumbnail: (u32, u32),
) -> Result<(Vec<u8>, Vec<u8>), TranscodeError> {
    let decoded = decode_frame(transfer_syntax_uid, info, frame)?;
    let image = render::to_display(info, &decoded, None)?;
    let small = resize::fit_inside(&image, thumbnail.0, thumbnail.1);
    Ok((encode::encode(&image, ImageFormat::Jpeg, quality)?, encode::encode(&small, ImageFormat::Jpeg, quality)?))
}

/// Render one frame for display and encode it.
///
/// Pipeline: decode; modality rescale (slope, intercept); VOI from, in this
/// order of preference, the request's window, the dataset's first window,
/// the VOI LUT Sequence, and only when none is present the frame's own
/// min/max; MONOCHROME1 inverted; colour converted to RGB (YBR_FULL,
/// YBR_FULL_422, PALETTE COLOR); scaled down to fit the viewport (triangle
/// filter, aspect ratio kept, never enlarged); encoded as JPEG (grayscale or
/// RGB) or 8-bit PNG.
pub fn render(transfer_syntax_uid: &str, info: &PixelInfo, frame: &[u8], options: &RenderOptions) -> Result<Vec<u8>, TranscodeError> {
    let decoded = decode_frame(transfer_syntax_uid, info, frame)?;
    let image = render::to_display(info, &decoded, options.window.as_ref())?;
    let image = match options.viewport {
        Some((width, height)) => resize::fit_inside(&image, width, height),
        None => image,
    };
    encode::encode(&image, options.format, options.quality)
}
