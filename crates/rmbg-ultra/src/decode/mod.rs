//! Image file → 8-bit RGB, as ComfyUI's `LoadImage` gets it from Pillow:
//! `ImageOps.exif_transpose(Image.open(f)).convert("RGB")`.
//!
//! * JPEG is decoded with libjpeg-turbo's algorithms (the `mozjpeg` crate: integer slow DCT, fancy
//!   upsampling), which is what Pillow links, so the bytes are Pillow's. Grey JPEGs are replicated
//!   to RGB; CMYK/YCCK JPEGs are read the way Pillow reads them (Adobe-inverted CMYK) and converted
//!   with Pillow's `cmyk2rgb`.
//! * PNG, WebP, TIFF, BMP and GIF (first frame) go through the `image` crate and are then converted
//!   with Pillow's `convert("RGB")` rules: alpha dropped (not premultiplied), grey replicated,
//!   16-bit colour or grey+alpha → high byte, 16-bit grey (Pillow mode `I;16`) → clipped at 255.
//! * The orientation is Pillow's `getexif()` orientation: EXIF IFD0 tag 274 (JPEG APP1, PNG `eXIf`
//!   or "Raw profile type exif" text, WebP `EXIF`, TIFF IFD0), else an XMP `tiff:Orientation`
//!   (JPEG, PNG, WebP). Values 2..=8 transpose the image; anything else leaves it as is.
//! * The pixel count is checked from the header before any pixel is decoded, so a bomb that
//!   claims 100000×100000 fails fast with next to no memory. Corrupt, truncated, empty and
//!   unsupported files give [`Error::Decode`] naming the file and saying which
//!   [`DecodeErrorKind`] it is; nothing panics.
//!
//! `jpeg.rs` is the JPEG path, `convert.rs` the other formats and their conversion to RGB,
//! `orientation.rs` the orientation found in the metadata.
//!
//! `tests/parity_decode.rs` compares every case above with Pillow 13 on fresh files each run
//! (lossy and lossless WebP, a GIF with a transparent index, LZW TIFF and BMP included): identical
//! bytes. Not covered, so possibly different: GIFs whose first frame does not cover the whole
//! canvas, TIFF compressions or layouts the `image` crate lacks (it then reports them as
//! unsupported), and a TIFF's XMP orientation (ignored).

mod convert;
mod jpeg;
mod orientation;

pub use crate::error::DecodeErrorKind;
use crate::{Error, Result};
use image::{ImageFormat, RgbImage};
use std::cell::Cell;
use std::io::{BufRead, Cursor, Read, Seek, SeekFrom};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

/// Limits applied before decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted width × height (default [`crate::params::MAX_PIXELS`]). Checked from the file header.
    pub max_pixels: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits { max_pixels: crate::params::MAX_PIXELS }
    }
}

/// Reads and decodes the image file at `path` (see [`decode_bytes`]).
pub fn decode_file(path: &Path, limits: &DecodeLimits) -> Result<RgbImage> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_bytes(&bytes, path, limits)
}

/// Decodes an image file held in memory to 8-bit RGB, EXIF orientation applied, exactly as
/// Pillow + ComfyUI's LoadImage would. `name` only labels errors.
pub fn decode_bytes(bytes: &[u8], name: &Path, limits: &DecodeLimits) -> Result<RgbImage> {
    let format = sniff(bytes).map_err(|kind| Error::Decode { path: name.to_path_buf(), kind })?;
    let hit_eof = Cell::new(false);
    // The decoders are not supposed to panic on bad data; this keeps a bug in one from taking
    // the caller down. (libjpeg's fatal errors arrive here as unwinds by design.)
    let decoded = catch_unwind(AssertUnwindSafe(|| match format {
        ImageFormat::Jpeg => jpeg::decode(bytes, limits, &hit_eof),
        _ => convert::decode(bytes, format, limits, &hit_eof),
    }))
    .unwrap_or_else(|payload| {
        Err(if hit_eof.get() {
            DecodeErrorKind::Truncated { format }
        } else {
            DecodeErrorKind::Corrupt { format, detail: format!("decoder failed: {}", panic_message(&*payload)) }
        })
    })
    .map_err(|kind| Error::Decode { path: name.to_path_buf(), kind })?;
    Ok(orientation::apply(decoded, orientation::of(format, bytes).unwrap_or(1)))
}

/// The format, from the first bytes. JPEG is recognised by its SOI and first marker alone, as
/// Pillow does; the rest the way the `image` crate guesses.
fn sniff(bytes: &[u8]) -> std::result::Result<ImageFormat, DecodeErrorKind> {
    if bytes.is_empty() {
        return Err(DecodeErrorKind::Empty);
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(ImageFormat::Jpeg);
    }
    image::guess_format(bytes).map_err(|_| DecodeErrorKind::Unrecognised { first_bytes: bytes.iter().take(8).copied().collect() })
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        "unknown error".into()
    }
}

/// The size check both decoders make from the header, before they allocate any pixel.
fn check_pixels(format: ImageFormat, w: u64, h: u64, limits: &DecodeLimits) -> std::result::Result<(), DecodeErrorKind> {
    if w == 0 || h == 0 {
        return Err(DecodeErrorKind::Corrupt { format, detail: format!("image has no pixels ({w}×{h})") });
    }
    if w * h > limits.max_pixels {
        return Err(DecodeErrorKind::TooLarge { width: w, height: h, limit: limits.max_pixels });
    }
    Ok(())
}

/// A reader over the file that remembers whether the decoder asked for bytes past its end: when a
/// decoder fails, that is what tells a truncated file from a corrupt one (the decoders' own words
/// for it differ, and libjpeg does not even fail).
struct EofWatch<'a> {
    data: Cursor<&'a [u8]>,
    hit_eof: &'a Cell<bool>,
}

impl<'a> EofWatch<'a> {
    fn new(bytes: &'a [u8], hit_eof: &'a Cell<bool>) -> Self {
        EofWatch { data: Cursor::new(bytes), hit_eof }
    }
}

impl Read for EofWatch<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.data.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.hit_eof.set(true);
        }
        Ok(n)
    }
}

impl BufRead for EofWatch<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        let hit_eof = self.hit_eof;
        let rest = self.data.fill_buf()?;
        if rest.is_empty() {
            hit_eof.set(true);
        }
        Ok(rest)
    }
    fn consume(&mut self, amt: usize) {
        self.data.consume(amt);
    }
}

impl Seek for EofWatch<'_> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.data.seek(pos)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use image::{DynamicImage, Rgb};
    use std::path::PathBuf;

    fn name() -> PathBuf {
        PathBuf::from("test.img")
    }

    pub(in crate::decode) fn decode(bytes: &[u8]) -> Result<RgbImage> {
        decode_bytes(bytes, &name(), &DecodeLimits::default())
    }

    pub(in crate::decode) fn encode(img: &DynamicImage, fmt: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, fmt).unwrap();
        out.into_inner()
    }

    /// The kind of the decode error `r` must be, after checking that it names the file.
    fn kind(r: Result<RgbImage>) -> DecodeErrorKind {
        match r {
            Err(Error::Decode { path, kind }) => {
                assert_eq!(path, name());
                kind
            }
            Err(e) => panic!("not a decode error: {e}"),
            Ok(img) => panic!("decoded a {}x{} image from bad input", img.width(), img.height()),
        }
    }

    /// A 3×2 RGB image with distinct pixels.
    fn sample() -> RgbImage {
        RgbImage::from_fn(3, 2, |x, y| Rgb([x as u8 * 80, y as u8 * 100, 7 + x as u8 + 3 * y as u8]))
    }

    /// A 64×64 image that compresses badly, so that its files are long enough to cut.
    fn noisy() -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(64, 64, |x, y| Rgb([(x * 7 + y * 13) as u8, (x * y) as u8, (x ^ y) as u8])))
    }

    /// A PNG from its chunks, each given its length and CRC.
    fn png_of(chunks: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        for (kind, data) in chunks {
            png.extend_from_slice(&(data.len() as u32).to_be_bytes());
            let start = png.len();
            png.extend_from_slice(kind);
            png.extend_from_slice(data);
            let crc = crc32(&png[start..]);
            png.extend_from_slice(&crc.to_be_bytes());
        }
        png
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut c = 0xFFFF_FFFFu32;
        for &b in data {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            }
        }
        !c
    }

    /// An 8-bit RGB PNG header claiming `w`×`h`.
    fn ihdr(w: u32, h: u32) -> Vec<u8> {
        [&w.to_be_bytes()[..], &h.to_be_bytes(), &[8, 2, 0, 0, 0]].concat()
    }

    #[test]
    fn png_rgb_round_trip_is_exact() {
        let img = sample();
        let got = decode(&encode(&DynamicImage::ImageRgb8(img.clone()), ImageFormat::Png)).unwrap();
        assert_eq!(got, img);
    }

    #[test]
    fn one_pixel_wide_and_high() {
        for (w, h) in [(1, 1), (1, 37), (41, 1)] {
            let img = RgbImage::from_fn(w, h, |x, y| Rgb([x as u8, y as u8, 9]));
            let got = decode(&encode(&DynamicImage::ImageRgb8(img.clone()), ImageFormat::Png)).unwrap();
            assert_eq!(got, img);
            let j = decode(&encode(&DynamicImage::ImageRgb8(img), ImageFormat::Jpeg)).unwrap();
            assert_eq!(j.dimensions(), (w, h));
        }
    }

    #[test]
    fn an_empty_body_is_empty() {
        assert_eq!(kind(decode(&[])), DecodeErrorKind::Empty);
        let e = decode(&[]).unwrap_err().to_string();
        assert_eq!(e, "cannot read image test.img: empty file (0 bytes)");
    }

    #[test]
    fn a_pdf_is_unrecognised() {
        let k = kind(decode(b"%PDF-1.7 not an image at all"));
        assert_eq!(k, DecodeErrorKind::Unrecognised { first_bytes: b"%PDF-1.7".to_vec() });
        assert_eq!(
            k.to_string(),
            "not a recognised image format (first bytes 25 50 44 46 2d 31 2e 37); supported: JPEG, PNG, WebP, TIFF, BMP, GIF"
        );
    }

    #[test]
    fn formats_known_but_not_built_in_are_unsupported() {
        for (bytes, want) in [(&b"qoif\0\0\0\x01\0\0\0\x01\x03\0"[..], ImageFormat::Qoi), (b"P6\n1 1\n255\n\0\0\0", ImageFormat::Pnm)] {
            match kind(decode(bytes)) {
                DecodeErrorKind::Unsupported { format, .. } => assert_eq!(format, want),
                k => panic!("{want:?}: {k}"),
            }
        }
    }

    #[test]
    fn files_cut_short_are_truncated() {
        for format in [ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::WebP, ImageFormat::Tiff, ImageFormat::Bmp, ImageFormat::Gif] {
            let file = encode(&noisy(), format);
            for cut in [file.len() / 2, 40] {
                assert_eq!(kind(decode(&file[..cut])), DecodeErrorKind::Truncated { format }, "{format:?} cut at {cut}");
            }
        }
        let jpg = encode(&noisy(), ImageFormat::Jpeg);
        let e = decode(&jpg[..jpg.len() / 2]).unwrap_err().to_string();
        assert_eq!(e, "cannot read image test.img: truncated JPEG file (the data ends before the image does)");
    }

    #[test]
    fn damaged_data_is_corrupt() {
        // A PNG whose image data is not zlib (its CRC is right: the decoder reads it).
        let png = png_of(&[(b"IHDR", &ihdr(4, 4)), (b"IDAT", b"this is not zlib data"), (b"IEND", b"")]);
        assert!(matches!(kind(decode(&png)), DecodeErrorKind::Corrupt { format: ImageFormat::Png, .. }));
        // A JPEG whose frame header claims no components.
        let mut jpg = encode(&DynamicImage::ImageRgb8(sample()), ImageFormat::Jpeg);
        let sof = jpg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        jpg[sof + 9] = 0;
        assert!(matches!(kind(decode(&jpg)), DecodeErrorKind::Corrupt { format: ImageFormat::Jpeg, .. }));
        // Tables overwritten with noise: an error or a picture, never a panic.
        let mut bad = encode(&noisy(), ImageFormat::Jpeg);
        for b in bad.iter_mut().skip(20).take(200) {
            *b = 0x5A;
        }
        let _ = decode(&bad);
    }

    #[test]
    fn a_frame_larger_than_its_screen_is_over_the_decoders_limits() {
        // A 1×1 GIF whose first frame claims 65535×65535: within the pixel limit by its header,
        // but its frame buffer would take 17 GB.
        let mut gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00".to_vec();
        gif.extend_from_slice(b"\x2c\0\0\0\0\xff\xff\xff\xff\x80\0\0\0\xff\xff\xff");
        gif.extend_from_slice(b"\x02\x02\x4c\x01\x00\x3b");
        let k = kind(decode(&gif));
        assert!(matches!(k, DecodeErrorKind::OverDecoderLimits { format: ImageFormat::Gif, .. }), "{k:?}");
    }

    #[test]
    fn pixel_limit_is_checked_from_the_header() {
        // PNG header claiming 100000×100000, a first IDAT of a few zlib bytes, the end: a bomb.
        let png = png_of(&[(b"IHDR", &ihdr(100_000, 100_000)), (b"IDAT", b"\x78\x9c\x63\x00\x00\x00\x01\x00\x01"), (b"IEND", b"")]);
        let k = kind(decode(&png));
        assert_eq!(k, DecodeErrorKind::TooLarge { width: 100_000, height: 100_000, limit: 100_000_000 });
        let msg = k.to_string();
        assert!(msg.contains("10000000000 pixels") && msg.contains("max_pixels"), "{msg}");
        // JPEG too, with a small limit.
        let jpg = encode(&DynamicImage::ImageRgb8(sample()), ImageFormat::Jpeg);
        let k = kind(decode_bytes(&jpg, &name(), &DecodeLimits { max_pixels: 5 }));
        assert_eq!(k, DecodeErrorKind::TooLarge { width: 3, height: 2, limit: 5 });
        assert!(k.to_string().contains("6 pixels, more than the limit of 5"), "{k}");
        assert!(decode_bytes(&jpg, &name(), &DecodeLimits { max_pixels: 6 }).is_ok());
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let e = decode_file(Path::new("/nonexistent/x.jpg"), &DecodeLimits::default()).unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
    }
}
