//! The orientation Pillow's `Image.getexif()` finds: EXIF IFD0 tag 274 (JPEG APP1, PNG `eXIf` or
//! "Raw profile type exif" text, WebP `EXIF`, TIFF IFD0), else an XMP `tiff:Orientation` (JPEG,
//! PNG, WebP), and `ImageOps.exif_transpose`'s use of it: values 2..=8 transpose the image,
//! anything else leaves it as is.

use image::{DynamicImage, ImageFormat, RgbImage};
use std::io::Read;

/// The orientation the file's metadata gives, if any.
pub(super) fn of(format: ImageFormat, bytes: &[u8]) -> Option<u32> {
    match format {
        ImageFormat::Jpeg => jpeg_orientation(bytes),
        ImageFormat::Png => png_orientation(bytes),
        ImageFormat::WebP => webp_orientation(bytes),
        ImageFormat::Tiff => tiff_orientation(bytes),
        _ => None,
    }
}

pub(super) fn apply(img: RgbImage, orientation: u32) -> RgbImage {
    match image::metadata::Orientation::from_exif(orientation.min(255) as u8) {
        Some(o) if orientation != 1 => {
            let mut d = DynamicImage::ImageRgb8(img);
            d.apply_orientation(o);
            d.into_rgb8()
        }
        _ => img,
    }
}

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
    use crate::decode::tests::{decode, encode};
    use image::Rgb;

    /// A JPEG of `img` with an EXIF APP1 carrying `orientation`.
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
}
