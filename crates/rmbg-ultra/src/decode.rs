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
//!   unsupported files give [`Error::Decode`] naming the file; nothing panics.
//!
//! `tests/parity_decode.rs` compares every case above with Pillow 13 on fresh files each run
//! (lossy and lossless WebP, a GIF with a transparent index, LZW TIFF and BMP included): identical
//! bytes. Not covered, so possibly different: GIFs whose first frame does not cover the whole
//! canvas, TIFF compressions or layouts the `image` crate lacks (it then reports them as
//! unsupported), and a TIFF's XMP orientation (ignored).

use crate::{Error, Result};
use image::{DynamicImage, ImageFormat, RgbImage};
use std::cell::Cell;
use std::io::{BufRead, Cursor, Read};
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
    let fail = |reason: String| Error::Decode { path: name.to_path_buf(), reason };
    if bytes.is_empty() {
        return Err(fail("empty file (0 bytes)".into()));
    }
    let is_jpeg = bytes.starts_with(&[0xFF, 0xD8, 0xFF]);
    let format =
        if is_jpeg { ImageFormat::Jpeg } else { image::guess_format(bytes).map_err(|_| fail(unrecognised(bytes)))? };
    // The decoders are not supposed to panic on bad data; this keeps a bug in one from taking
    // the caller down. (libjpeg's fatal errors arrive here as unwinds by design.)
    let decoded = catch_unwind(AssertUnwindSafe(|| {
        if is_jpeg {
            decode_jpeg(bytes, limits)
        } else {
            decode_with_image(bytes, format, limits)
        }
    }))
    .unwrap_or_else(|payload| Err(format!("decoder failed: {}", panic_message(&*payload))))
    .map_err(fail)?;

    let orientation = match format {
        ImageFormat::Jpeg => jpeg_orientation(bytes),
        ImageFormat::Png => png_orientation(bytes),
        ImageFormat::WebP => webp_orientation(bytes),
        ImageFormat::Tiff => tiff_orientation(bytes),
        _ => None,
    };
    Ok(apply_orientation(decoded, orientation.unwrap_or(1)))
}

fn unrecognised(bytes: &[u8]) -> String {
    let head: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!(
        "not a recognised image format (first bytes {}); supported: JPEG, PNG, WebP, TIFF, BMP, GIF",
        head.join(" ")
    )
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

fn check_pixels(w: u64, h: u64, limits: &DecodeLimits) -> std::result::Result<(), String> {
    if w == 0 || h == 0 {
        return Err(format!("image has no pixels ({w}×{h})"));
    }
    let n = w * h;
    if n > limits.max_pixels {
        return Err(format!(
            "image is {w}×{h} = {n} pixels, more than the limit of {} (a guard against decompression \
             bombs; raise DecodeLimits::max_pixels to accept it)",
            limits.max_pixels
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// JPEG

/// A `BufRead` over the file that remembers whether libjpeg asked for bytes past its end.
/// (libjpeg does not fail on a truncated file: it warns, fakes an end marker and paints the rest
/// grey. Pillow does fail — "image file is truncated" — and so do we.)
struct WatchEof<'a> {
    data: &'a [u8],
    hit_eof: &'a Cell<bool>,
}

impl Read for WatchEof<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.data.len().min(buf.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        if n == 0 && !buf.is_empty() {
            self.hit_eof.set(true);
        }
        Ok(n)
    }
}

impl BufRead for WatchEof<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.data.is_empty() {
            self.hit_eof.set(true);
        }
        Ok(self.data)
    }
    fn consume(&mut self, amt: usize) {
        self.data = &self.data[amt.min(self.data.len())..];
    }
}

fn decode_jpeg(bytes: &[u8], limits: &DecodeLimits) -> std::result::Result<RgbImage, String> {
    use mozjpeg::ColorSpace;
    let hit_eof = Cell::new(false);
    let reader = WatchEof { data: bytes, hit_eof: &hit_eof };
    let jpeg_err = |e: std::io::Error| {
        if hit_eof.get() {
            "truncated JPEG file (the data ends before the image does)".to_string()
        } else {
            format!("corrupt JPEG file: {e}")
        }
    };
    // Header only: nothing is allocated for pixels before the size check.
    let d = mozjpeg::Decompress::new_reader(reader).map_err(jpeg_err)?;
    let (w, h) = d.size();
    check_pixels(w as u64, h as u64, limits)?;
    let n = w * h;
    let rgb: Vec<u8> = match d.color_space() {
        ColorSpace::JCS_GRAYSCALE => {
            let mut s = d.grayscale().map_err(jpeg_err)?;
            let grey: Vec<u8> = s.read_scanlines().map_err(jpeg_err)?;
            check_complete(grey.len(), n, &hit_eof)?;
            grey.iter().flat_map(|&v| [v, v, v]).collect()
        }
        ColorSpace::JCS_CMYK | ColorSpace::JCS_YCCK => {
            let mut s = d.to_colorspace(ColorSpace::JCS_CMYK).map_err(jpeg_err)?;
            let cmyk: Vec<[u8; 4]> = s.read_scanlines().map_err(jpeg_err)?;
            check_complete(cmyk.len(), n, &hit_eof)?;
            // Pillow reads 4-channel JPEGs as "CMYK;I" (Adobe convention: stored inverted).
            let mut out = Vec::with_capacity(n * 3);
            for p in cmyk {
                out.extend(cmyk_to_rgb([255 - p[0], 255 - p[1], 255 - p[2], 255 - p[3]]));
            }
            out
        }
        ColorSpace::JCS_UNKNOWN => return Err("unsupported JPEG colour space (unknown component layout)".into()),
        _ => {
            let mut s = d.rgb().map_err(jpeg_err)?;
            let rgb: Vec<u8> = s.read_scanlines().map_err(jpeg_err)?;
            check_complete(rgb.len(), n * 3, &hit_eof)?;
            rgb
        }
    };
    RgbImage::from_raw(w as u32, h as u32, rgb).ok_or_else(|| "JPEG decoder returned a short image".to_string())
}

fn check_complete(got: usize, want: usize, hit_eof: &Cell<bool>) -> std::result::Result<(), String> {
    if hit_eof.get() {
        return Err("truncated JPEG file (the data ends before the image does)".into());
    }
    if got != want {
        return Err(format!("corrupt JPEG file: decoded {got} of {want} samples"));
    }
    Ok(())
}

/// Pillow's `cmyk2rgb` (Convert.c): `nk = 255 − k; out = clip(nk − nk·c/255)` with its rounding.
#[inline]
fn cmyk_to_rgb(p: [u8; 4]) -> [u8; 3] {
    let nk = 255 - p[3] as i32;
    let f = |c: u8| {
        let tmp = c as i32 * nk + 128;
        let m = ((tmp >> 8) + tmp) >> 8;
        (nk - m).clamp(0, 255) as u8
    };
    [f(p[0]), f(p[1]), f(p[2])]
}

// ---------------------------------------------------------------------------------------------
// Everything else: the image crate, then Pillow's convert("RGB")

fn decode_with_image(
    bytes: &[u8],
    format: ImageFormat,
    limits: &DecodeLimits,
) -> std::result::Result<RgbImage, String> {
    let fmt = format!("{format:?}").to_uppercase();
    let image_err = |e: image::ImageError| -> String {
        use image::ImageError as E;
        match e {
            E::Unsupported(u) => format!("unsupported {fmt} image: {u}"),
            E::Limits(l) => format!("{fmt} image exceeds the decoder's limits: {l}"),
            E::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                format!("truncated {fmt} file (the data ends before the image does)")
            }
            E::IoError(io) => format!("corrupt or truncated {fmt} file: {io}"),
            E::Decoding(d) => format!("corrupt or truncated {fmt} file: {d}"),
            other => format!("cannot decode {fmt} file: {other}"),
        }
    };
    let reader = || image::ImageReader::with_format(Cursor::new(bytes), format);
    // Header only.
    let (w, h) = reader().into_dimensions().map_err(image_err)?;
    check_pixels(w as u64, h as u64, limits)?;
    let mut r = reader();
    let mut l = image::Limits::default();
    l.max_alloc = Some((w as u64 * h as u64).saturating_mul(20).saturating_add(64 << 20));
    r.limits(l);
    let img = r.decode().map_err(image_err)?;
    Ok(pillow_convert_rgb(img))
}

/// Pillow's `convert("RGB")` of the mode Pillow would have opened the file in.
fn pillow_convert_rgb(img: DynamicImage) -> RgbImage {
    let (w, h) = (img.width(), img.height());
    let build = |data: Vec<u8>| RgbImage::from_raw(w, h, data).expect("w×h×3 samples");
    match img {
        DynamicImage::ImageRgb8(x) => x,
        DynamicImage::ImageRgba8(x) => build(x.pixels().flat_map(|p| [p[0], p[1], p[2]]).collect()),
        DynamicImage::ImageLuma8(x) => build(x.pixels().flat_map(|p| [p[0]; 3]).collect()),
        DynamicImage::ImageLumaA8(x) => build(x.pixels().flat_map(|p| [p[0]; 3]).collect()),
        // 16-bit grey opens as "I;16", whose RGB conversion clips (it does not scale).
        DynamicImage::ImageLuma16(x) => build(x.pixels().flat_map(|p| [p[0].min(255) as u8; 3]).collect()),
        // 16-bit LA / RGB / RGBA open as 8-bit modes through the big-endian high byte.
        DynamicImage::ImageLumaA16(x) => build(x.pixels().flat_map(|p| [(p[0] >> 8) as u8; 3]).collect()),
        DynamicImage::ImageRgb16(x) => build(x.pixels().flat_map(|p| p.0.map(|v| (v >> 8) as u8)).collect()),
        DynamicImage::ImageRgba16(x) => {
            build(x.pixels().flat_map(|p| [p[0], p[1], p[2]].map(|v| (v >> 8) as u8)).collect())
        }
        other => {
            // Float images (not produced by the enabled formats today).
            let f = other.into_rgb32f();
            build(f.into_raw().into_iter().map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8).collect())
        }
    }
}

fn apply_orientation(img: RgbImage, orientation: u32) -> RgbImage {
    match image::metadata::Orientation::from_exif(orientation.min(255) as u8) {
        Some(o) if orientation != 1 => {
            let mut d = DynamicImage::ImageRgb8(img);
            d.apply_orientation(o);
            d.into_rgb8()
        }
        _ => img,
    }
}

// ---------------------------------------------------------------------------------------------
// Orientation, the way Pillow's Image.getexif() finds it

fn u16_at(b: &[u8], i: usize, le: bool) -> Option<u16> {
    let s: [u8; 2] = b.get(i..i + 2)?.try_into().ok()?;
    Some(if le { u16::from_le_bytes(s) } else { u16::from_be_bytes(s) })
}

fn u32_at(b: &[u8], i: usize, le: bool) -> Option<u32> {
    let s: [u8; 4] = b.get(i..i + 4)?.try_into().ok()?;
    Some(if le { u32::from_le_bytes(s) } else { u32::from_be_bytes(s) })
}

/// Tag 274 of IFD0 of a TIFF structure (an EXIF block or a TIFF file). A value with a count
/// other than 1 is a tuple for Pillow, which then ignores it.
fn tiff_orientation(t: &[u8]) -> Option<u32> {
    let le = match t.get(0..2)? {
        b"II" => true,
        b"MM" => false,
        _ => return None,
    };
    if u16_at(t, 2, le)? != 42 {
        return None;
    }
    let ifd = u32_at(t, 4, le)? as usize;
    let n = u16_at(t, ifd, le)? as usize;
    for i in 0..n {
        let e = ifd + 2 + 12 * i;
        if u16_at(t, e, le)? != 274 {
            continue;
        }
        let (typ, count) = (u16_at(t, e + 2, le)?, u32_at(t, e + 4, le)?);
        if count != 1 {
            return None;
        }
        return match typ {
            1 | 7 => t.get(e + 8).map(|&v| v as u32),   // BYTE, UNDEFINED
            6 => t.get(e + 8).map(|&v| v as i8 as u32), // SBYTE (negative: ignored later)
            3 => u16_at(t, e + 8, le).map(u32::from),
            8 => u16_at(t, e + 8, le).map(|v| v as i16 as u32),
            4 | 9 => u32_at(t, e + 8, le),
            _ => None,
        };
    }
    None
}

/// Pillow's `Exif.load`: strips up to two leading `Exif\0\0`, then reads IFD0.
fn exif_orientation(exif: &[u8]) -> Option<u32> {
    let mut t = exif;
    for _ in 0..2 {
        if let Some(rest) = t.strip_prefix(b"Exif\0\0") {
            t = rest;
        }
    }
    tiff_orientation(t)
}

/// Pillow's XMP fallback: the first match of `tiff:Orientation(="|>)([0-9])`.
fn xmp_orientation(xmp: &[u8]) -> Option<u32> {
    const KEY: &[u8] = b"tiff:Orientation";
    let mut from = 0;
    while let Some(pos) = find(&xmp[from..], KEY) {
        let after = from + pos + KEY.len();
        let digit = match xmp.get(after..) {
            Some([b'=', b'"', d, ..]) | Some([b'>', d, ..]) if d.is_ascii_digit() => Some(*d),
            _ => None,
        };
        if let Some(d) = digit {
            return Some((d - b'0') as u32);
        }
        from = from + pos + 1;
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// EXIF first (only when it has the tag), then XMP, as in `Image.getexif()`.
fn orientation_from(exif: Option<&[u8]>, xmp: Option<&[u8]>) -> Option<u32> {
    exif.and_then(exif_orientation).or_else(|| xmp.and_then(xmp_orientation))
}

fn jpeg_orientation(b: &[u8]) -> Option<u32> {
    let mut exif: Option<Vec<u8>> = None;
    let mut xmp: Option<&[u8]> = None;
    let mut i = 2; // after SOI
    while i + 1 < b.len() {
        if b[i] != 0xFF {
            i += 1; // junk between segments: Pillow skips it byte by byte
            continue;
        }
        let m = b[i + 1];
        match m {
            0xFF => {
                i += 1; // fill byte
                continue;
            }
            0xD8 | 0x01 | 0xD0..=0xD7 => {
                i += 2;
                continue;
            }
            0xD9 | 0xDA => break, // end of image / start of scan: no more metadata before pixels
            _ => {}
        }
        let Some(len) = u16_at(b, i + 2, false).map(usize::from) else { break };
        if len < 2 {
            break;
        }
        let seg = &b[(i + 4).min(b.len())..(i + 2 + len).min(b.len())];
        if m == 0xE1 {
            if seg.starts_with(b"Exif\0\0") {
                // Pillow concatenates further Exif segments (without their header).
                match &mut exif {
                    Some(e) => e.extend_from_slice(&seg[6..]),
                    None => exif = Some(seg.to_vec()),
                }
            } else if let Some(x) = seg.strip_prefix(b"http://ns.adobe.com/xap/1.0/\0") {
                xmp = Some(x);
            }
        }
        i += 2 + len;
    }
    orientation_from(exif.as_deref(), xmp)
}

fn png_orientation(b: &[u8]) -> Option<u32> {
    let mut exif: Option<Vec<u8>> = None;
    let mut raw_profile: Option<Vec<u8>> = None;
    let mut xmp: Option<Vec<u8>> = None;
    let mut i = 8; // signature
    while let (Some(len), Some(kind)) = (u32_at(b, i, false), b.get(i + 4..i + 8)) {
        let len = len as usize;
        let Some(data) = b.get(i + 8..(i + 8).saturating_add(len)) else { break };
        match kind {
            b"eXIf" => exif = Some(data.to_vec()),
            b"tEXt" | b"zTXt" | b"iTXt" => {
                if let Some((key, value)) = png_text(kind, data) {
                    match key {
                        b"Raw profile type exif" => raw_profile = Some(value),
                        b"XML:com.adobe.xmp" => xmp = Some(value),
                        b"exif" if kind == b"tEXt" => exif = Some(value),
                        _ => {}
                    }
                }
            }
            b"IEND" => break,
            _ => {}
        }
        i += 12 + len;
    }
    let exif = exif.or_else(|| raw_profile.and_then(|p| raw_profile_exif(&p)));
    orientation_from(exif.as_deref(), xmp.as_deref())
}

/// (keyword, text) of a PNG text chunk; compressed text is inflated.
fn png_text<'a>(kind: &[u8], data: &'a [u8]) -> Option<(&'a [u8], Vec<u8>)> {
    let nul = data.iter().position(|&c| c == 0)?;
    let (key, rest) = (&data[..nul], &data[nul + 1..]);
    let inflate = |z: &[u8]| {
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(z).take(64 << 20).read_to_end(&mut out).ok().map(|_| out)
    };
    let value = match kind {
        b"tEXt" => rest.to_vec(),
        b"zTXt" => {
            if rest.first() != Some(&0) {
                return None;
            }
            inflate(&rest[1..])?
        }
        _ => {
            // iTXt: flag, method, language\0, translated keyword\0, text
            let (&flag, rest) = rest.split_first()?;
            let (&method, rest) = rest.split_first()?;
            let p1 = rest.iter().position(|&c| c == 0)?;
            let rest = &rest[p1 + 1..];
            let p2 = rest.iter().position(|&c| c == 0)?;
            let text = &rest[p2 + 1..];
            match (flag, method) {
                (0, _) => text.to_vec(),
                (_, 0) => inflate(text)?,
                _ => return None,
            }
        }
    };
    Some((key, value))
}

/// ImageMagick's "Raw profile type exif": `\nexif\n<length>\n<hex lines>`; Pillow drops the first
/// three lines and reads the rest as hex (whitespace ignored).
fn raw_profile_exif(p: &[u8]) -> Option<Vec<u8>> {
    let mut lines = p.split(|&c| c == b'\n');
    for _ in 0..3 {
        lines.next()?;
    }
    let digits: Vec<u8> = lines.flatten().copied().filter(|c| !c.is_ascii_whitespace()).collect();
    if digits.len() % 2 != 0 {
        return None;
    }
    digits.chunks_exact(2).map(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 16).ok()).collect()
}

fn webp_orientation(b: &[u8]) -> Option<u32> {
    if b.get(0..4)? != b"RIFF" || b.get(8..12)? != b"WEBP" {
        return None;
    }
    let (mut exif, mut xmp) = (None, None);
    let mut i = 12;
    while let (Some(kind), Some(len)) = (b.get(i..i + 4), u32_at(b, i + 4, true)) {
        let len = len as usize;
        let Some(data) = b.get(i + 8..(i + 8).saturating_add(len)) else { break };
        match kind {
            b"EXIF" => exif = Some(data),
            b"XMP " => xmp = Some(data),
            _ => {}
        }
        i += 8 + len + (len & 1);
    }
    orientation_from(exif, xmp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, ImageBuffer, Luma, LumaA, Rgb, Rgba};
    use std::path::PathBuf;

    fn name() -> PathBuf {
        PathBuf::from("test.img")
    }

    fn decode(bytes: &[u8]) -> Result<RgbImage> {
        decode_bytes(bytes, &name(), &DecodeLimits::default())
    }

    fn reason(r: Result<RgbImage>) -> String {
        match r {
            Err(Error::Decode { path, reason }) => {
                assert_eq!(path, name());
                reason
            }
            Err(e) => panic!("not a decode error: {e}"),
            Ok(img) => panic!("decoded a {}x{} image from bad input", img.width(), img.height()),
        }
    }

    fn encode(img: &DynamicImage, fmt: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, fmt).unwrap();
        out.into_inner()
    }

    /// A 3×2 RGB image with distinct pixels.
    fn sample() -> RgbImage {
        RgbImage::from_fn(3, 2, |x, y| Rgb([x as u8 * 80, y as u8 * 100, 7 + x as u8 + 3 * y as u8]))
    }

    /// A JPEG (quality 100, 4:4:4 not needed: we only compare dimensions / layout loosely) with an
    /// EXIF APP1 carrying `orientation`.
    fn jpeg_with_orientation(img: &RgbImage, orientation: u16) -> Vec<u8> {
        let plain = encode(&DynamicImage::ImageRgb8(img.clone()), ImageFormat::Jpeg);
        let mut tiff = b"MM\0\x2a\0\0\0\x08\0\x01".to_vec();
        tiff.extend_from_slice(&274u16.to_be_bytes());
        tiff.extend_from_slice(&3u16.to_be_bytes());
        tiff.extend_from_slice(&1u32.to_be_bytes());
        tiff.extend_from_slice(&orientation.to_be_bytes());
        tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        let mut seg = b"Exif\0\0".to_vec();
        seg.extend_from_slice(&tiff);
        let mut out = plain[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&((seg.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(&seg);
        out.extend_from_slice(&plain[2..]);
        out
    }

    #[test]
    fn png_rgb_round_trip_is_exact() {
        let img = sample();
        let got = decode(&encode(&DynamicImage::ImageRgb8(img.clone()), ImageFormat::Png)).unwrap();
        assert_eq!(got, img);
    }

    #[test]
    fn rgba_drops_alpha_without_premultiplying() {
        let img = ImageBuffer::from_fn(2, 2, |x, y| Rgba([200, 100 + x as u8, 50 + y as u8, (x * 100) as u8]));
        let got = decode(&encode(&DynamicImage::ImageRgba8(img), ImageFormat::Png)).unwrap();
        assert_eq!(got.get_pixel(0, 0).0, [200, 100, 50]);
        assert_eq!(got.get_pixel(1, 1).0, [200, 101, 51]);
    }

    #[test]
    fn grey_and_grey_alpha_are_replicated() {
        let g = GrayImage::from_raw(3, 1, vec![0, 128, 255]).unwrap();
        let got = decode(&encode(&DynamicImage::ImageLuma8(g), ImageFormat::Png)).unwrap();
        assert_eq!(got.into_raw(), vec![0, 0, 0, 128, 128, 128, 255, 255, 255]);
        let ga = ImageBuffer::<LumaA<u8>, _>::from_raw(2, 1, vec![9u8, 0, 250, 255]).unwrap();
        let got = decode(&encode(&DynamicImage::ImageLumaA8(ga), ImageFormat::Png)).unwrap();
        assert_eq!(got.into_raw(), vec![9, 9, 9, 250, 250, 250]);
    }

    #[test]
    fn sixteen_bit_follows_pillow() {
        // RGB16 → high byte.
        let rgb16 = ImageBuffer::from_raw(2, 1, vec![0u16, 255, 256, 65535, 65280, 511]).unwrap();
        let got = decode(&encode(&DynamicImage::ImageRgb16(rgb16), ImageFormat::Png)).unwrap();
        assert_eq!(got.into_raw(), vec![0, 0, 1, 255, 255, 1]);
        // Grey16 ("I;16") → clipped at 255.
        let g16: ImageBuffer<Luma<u16>, _> = ImageBuffer::from_raw(4, 1, vec![0u16, 200, 256, 65535]).unwrap();
        let got = decode(&encode(&DynamicImage::ImageLuma16(g16), ImageFormat::Png)).unwrap();
        assert_eq!(got.into_raw(), vec![0, 0, 0, 200, 200, 200, 255, 255, 255, 255, 255, 255]);
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
    fn grey_jpeg_is_replicated() {
        let g = GrayImage::from_fn(8, 8, |x, y| Luma([(x * 30 + y) as u8]));
        let got = decode(&encode(&DynamicImage::ImageLuma8(g), ImageFormat::Jpeg)).unwrap();
        assert!(got.pixels().all(|p| p[0] == p[1] && p[1] == p[2]));
    }

    #[test]
    fn exif_orientation_transposes_like_pillow() {
        // A large flat-coloured layout survives JPEG: compare block colours, not bytes.
        let img = RgbImage::from_fn(32, 16, |x, y| if x < 16 && y < 8 { Rgb([250, 0, 0]) } else { Rgb([0, 0, 250]) });
        let red_corner = |o: u16| {
            let got = decode(&jpeg_with_orientation(&img, o)).unwrap();
            let (w, h) = got.dimensions();
            let corners = [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)];
            let i = corners.iter().position(|&(x, y)| got.get_pixel(x, y)[0] > 128).unwrap();
            ((w, h), i)
        };
        // Corners: 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right.
        assert_eq!(red_corner(1), ((32, 16), 0));
        assert_eq!(red_corner(2), ((32, 16), 1)); // mirror
        assert_eq!(red_corner(3), ((32, 16), 3)); // 180°
        assert_eq!(red_corner(4), ((32, 16), 2)); // flip vertical
        assert_eq!(red_corner(5), ((16, 32), 0)); // transpose
        assert_eq!(red_corner(6), ((16, 32), 1)); // 90° clockwise
        assert_eq!(red_corner(7), ((16, 32), 3)); // transverse
        assert_eq!(red_corner(8), ((16, 32), 2)); // 90° counter-clockwise
        assert_eq!(red_corner(9), ((32, 16), 0)); // invalid: ignored
    }

    #[test]
    fn xmp_and_raw_profile_orientation() {
        assert_eq!(xmp_orientation(br#"<x tiff:Orientation="6"/>"#), Some(6));
        assert_eq!(xmp_orientation(b"<tiff:Orientation>8</tiff:Orientation>"), Some(8));
        assert_eq!(xmp_orientation(b"tiff:Orientation=\"x\" tiff:Orientation>3"), Some(3));
        assert_eq!(xmp_orientation(b"nothing"), None);
        let mut exif = b"MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x03\0\0\0\0\0\0".to_vec();
        assert_eq!(exif_orientation(&exif), Some(3));
        let hex: String = exif.iter().map(|b| format!("{b:02x}")).collect();
        let profile = format!("\nexif\n{:8}\n{}\n{}\n", exif.len(), &hex[..20], &hex[20..]);
        assert_eq!(raw_profile_exif(profile.as_bytes()).as_deref(), Some(&exif[..]));
        exif.splice(0..0, b"Exif\0\0Exif\0\0".iter().copied());
        assert_eq!(exif_orientation(&exif), Some(3));
    }

    #[test]
    fn empty_bogus_truncated_and_unsupported() {
        assert!(reason(decode(&[])).contains("empty"));
        assert!(reason(decode(b"definitely not an image")).contains("not a recognised image format"));
        let png = encode(&DynamicImage::ImageRgb8(RgbImage::from_pixel(64, 64, Rgb([1, 2, 3]))), ImageFormat::Png);
        let r = reason(decode(&png[..png.len() / 2]));
        assert!(r.contains("PNG"), "{r}");
        let noisy = RgbImage::from_fn(64, 64, |x, y| Rgb([(x * 7 + y * 13) as u8, (x * y) as u8, (x ^ y) as u8]));
        let jpg = encode(&DynamicImage::ImageRgb8(noisy), ImageFormat::Jpeg);
        let r = reason(decode(&jpg[..jpg.len() / 2]));
        assert!(r.contains("truncated"), "{r}");
        let r = reason(decode(&jpg[..40]));
        assert!(r.contains("JPEG"), "{r}");
        let mut bad = jpg.clone();
        for b in bad.iter_mut().skip(20).take(200) {
            *b = 0x5A;
        }
        let _ = decode(&bad); // corrupt tables: an error or a picture, never a panic
                              // A format the image crate knows but does not decode here.
        let r = reason(decode(b"qoif\0\0\0\x01\0\0\0\x01\x03\0"));
        assert!(r.contains("unsupported") || r.contains("QOI"), "{r}");
    }

    #[test]
    fn pixel_limit_is_checked_from_the_header() {
        // PNG header claiming 100000×100000, no pixel data at all.
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&100_000u32.to_be_bytes());
        png.extend_from_slice(&100_000u32.to_be_bytes());
        png.extend_from_slice(&[8, 2, 0, 0, 0]);
        let crc = crc32(&png[12..]);
        png.extend_from_slice(&crc.to_be_bytes());
        // A first IDAT chunk (a few zlib bytes of row data) and the end: what a bomb looks like.
        for (kind, data) in [(&b"IDAT"[..], &b"\x78\x9c\x63\x00\x00\x00\x01\x00\x01"[..]), (b"IEND", b"")] {
            png.extend_from_slice(&(data.len() as u32).to_be_bytes());
            let start = png.len();
            png.extend_from_slice(kind);
            png.extend_from_slice(data);
            let crc = crc32(&png[start..]);
            png.extend_from_slice(&crc.to_be_bytes());
        }
        let r = reason(decode(&png));
        assert!(r.contains("10000000000 pixels") && r.contains("max_pixels"), "{r}");
        // JPEG too, with a small limit.
        let jpg = encode(&DynamicImage::ImageRgb8(sample()), ImageFormat::Jpeg);
        let r = reason(decode_bytes(&jpg, &name(), &DecodeLimits { max_pixels: 5 }));
        assert!(r.contains("6 pixels") && r.contains("limit of 5"), "{r}");
        assert!(decode_bytes(&jpg, &name(), &DecodeLimits { max_pixels: 6 }).is_ok());
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

    #[test]
    fn cmyk_conversion_matches_pillow_formula() {
        assert_eq!(cmyk_to_rgb([0, 0, 0, 0]), [255, 255, 255]);
        assert_eq!(cmyk_to_rgb([255, 255, 255, 0]), [0, 0, 0]);
        assert_eq!(cmyk_to_rgb([0, 0, 0, 255]), [0, 0, 0]);
        assert_eq!(cmyk_to_rgb([128, 0, 64, 100]), [77, 155, 116]);
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let e = decode_file(Path::new("/nonexistent/x.jpg"), &DecodeLimits::default()).unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
    }
}
