//! JPEG with libjpeg-turbo's algorithms (the `mozjpeg` crate: integer slow DCT, fancy upsampling),
//! which is what Pillow links, so the bytes are Pillow's. Grey is replicated to RGB; CMYK/YCCK
//! are read the way Pillow reads them (Adobe-inverted CMYK) and converted with its `cmyk2rgb`.

use super::{check_pixels, DecodeErrorKind, DecodeLimits, EofWatch};
use image::{ImageFormat, RgbImage};
use std::cell::Cell;

const JPEG: ImageFormat = ImageFormat::Jpeg;

/// `hit_eof` is set when libjpeg reads past the end, also when it then fails by unwinding. That
/// is how a truncated file fails here: libjpeg only warns, fakes an end marker and paints the rest
/// grey, where Pillow says "image file is truncated".
pub(super) fn decode(bytes: &[u8], limits: &DecodeLimits, hit_eof: &Cell<bool>) -> Result<RgbImage, DecodeErrorKind> {
    use mozjpeg::ColorSpace;
    let reader = EofWatch::new(bytes, hit_eof);
    let jpeg_err = |e: std::io::Error| {
        if hit_eof.get() {
            DecodeErrorKind::Truncated { format: JPEG }
        } else {
            DecodeErrorKind::Corrupt { format: JPEG, detail: e.to_string() }
        }
    };
    // Header only: nothing is allocated for pixels before the size check.
    let d = mozjpeg::Decompress::new_reader(reader).map_err(jpeg_err)?;
    let (w, h) = d.size();
    check_pixels(JPEG, w as u64, h as u64, limits)?;
    let n = w * h;
    let rgb: Vec<u8> = match d.color_space() {
        ColorSpace::JCS_GRAYSCALE => {
            let mut s = d.grayscale().map_err(jpeg_err)?;
            let grey: Vec<u8> = s.read_scanlines().map_err(jpeg_err)?;
            check_complete(grey.len(), n, hit_eof)?;
            grey.iter().flat_map(|&v| [v, v, v]).collect()
        }
        ColorSpace::JCS_CMYK | ColorSpace::JCS_YCCK => {
            let mut s = d.to_colorspace(ColorSpace::JCS_CMYK).map_err(jpeg_err)?;
            let cmyk: Vec<[u8; 4]> = s.read_scanlines().map_err(jpeg_err)?;
            check_complete(cmyk.len(), n, hit_eof)?;
            // Pillow reads 4-channel JPEGs as "CMYK;I" (Adobe convention: stored inverted).
            let mut out = Vec::with_capacity(n * 3);
            for p in cmyk {
                out.extend(cmyk_to_rgb([255 - p[0], 255 - p[1], 255 - p[2], 255 - p[3]]));
            }
            out
        }
        ColorSpace::JCS_UNKNOWN => {
            return Err(DecodeErrorKind::Unsupported { format: JPEG, detail: "unknown colour space (component layout)".into() })
        }
        _ => {
            let mut s = d.rgb().map_err(jpeg_err)?;
            let rgb: Vec<u8> = s.read_scanlines().map_err(jpeg_err)?;
            check_complete(rgb.len(), n * 3, hit_eof)?;
            rgb
        }
    };
    RgbImage::from_raw(w as u32, h as u32, rgb)
        .ok_or_else(|| DecodeErrorKind::Corrupt { format: JPEG, detail: "the decoder returned a short image".into() })
}

fn check_complete(got: usize, want: usize, hit_eof: &Cell<bool>) -> Result<(), DecodeErrorKind> {
    if hit_eof.get() {
        return Err(DecodeErrorKind::Truncated { format: JPEG });
    }
    if got != want {
        return Err(DecodeErrorKind::Corrupt { format: JPEG, detail: format!("decoded {got} of {want} samples") });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::tests::{decode, encode};
    use image::{DynamicImage, GrayImage, Luma};

    #[test]
    fn grey_jpeg_is_replicated() {
        let g = GrayImage::from_fn(8, 8, |x, y| Luma([(x * 30 + y) as u8]));
        let got = decode(&encode(&DynamicImage::ImageLuma8(g), JPEG)).unwrap();
        assert!(got.pixels().all(|p| p[0] == p[1] && p[1] == p[2]));
    }

    #[test]
    fn cmyk_conversion_matches_pillow_formula() {
        assert_eq!(cmyk_to_rgb([0, 0, 0, 0]), [255, 255, 255]);
        assert_eq!(cmyk_to_rgb([255, 255, 255, 0]), [0, 0, 0]);
        assert_eq!(cmyk_to_rgb([0, 0, 0, 255]), [0, 0, 0]);
        assert_eq!(cmyk_to_rgb([128, 0, 64, 100]), [77, 155, 116]);
    }
}
