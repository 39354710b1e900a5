//! PNG, WebP, TIFF, BMP and GIF (first frame) through the `image` crate, then Pillow's
//! `convert("RGB")` of the mode Pillow would have opened the file in: alpha dropped (not
//! premultiplied), grey replicated, 16-bit colour or grey+alpha → high byte, 16-bit grey (Pillow
//! mode `I;16`) → clipped at 255.

use super::{check_pixels, DecodeErrorKind, DecodeLimits, EofWatch};
use image::{DynamicImage, ImageFormat, RgbImage};
use std::cell::Cell;

/// `hit_eof` is set when the decoder reads past the end, also when it then fails by panicking.
pub(super) fn decode(bytes: &[u8], format: ImageFormat, limits: &DecodeLimits, hit_eof: &Cell<bool>) -> Result<RgbImage, DecodeErrorKind> {
    let reader = || image::ImageReader::with_format(EofWatch::new(bytes, hit_eof), format);
    let kind = |e: image::ImageError| {
        use image::ImageError as E;
        match e {
            E::Unsupported(u) => DecodeErrorKind::Unsupported { format, detail: u.to_string() },
            E::Limits(l) => DecodeErrorKind::OverDecoderLimits { format, detail: l.to_string() },
            // The decoders report a file that ends too early in their own words, or as an I/O
            // error; that they read to its end is what tells.
            E::IoError(_) | E::Decoding(_) if hit_eof.get() => DecodeErrorKind::Truncated { format },
            E::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => DecodeErrorKind::Truncated { format },
            other => DecodeErrorKind::Corrupt { format, detail: other.to_string() },
        }
    };
    // Header only.
    let (w, h) = reader().into_dimensions().map_err(kind)?;
    check_pixels(format, w as u64, h as u64, limits)?;
    hit_eof.set(false);
    let mut r = reader();
    let mut l = image::Limits::default();
    l.max_alloc = Some((w as u64 * h as u64).saturating_mul(20).saturating_add(64 << 20));
    r.limits(l);
    let img = r.decode().map_err(kind)?;
    Ok(pillow_convert_rgb(img))
}

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
        DynamicImage::ImageRgba16(x) => build(x.pixels().flat_map(|p| [p[0], p[1], p[2]].map(|v| (v >> 8) as u8)).collect()),
        other => {
            // Float images (not produced by the enabled formats today).
            let f = other.into_rgb32f();
            build(f.into_raw().into_iter().map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::decode::tests::{decode, encode};
    use image::{DynamicImage, ImageBuffer, ImageFormat, Luma, LumaA, Rgba};

    #[test]
    fn rgba_drops_alpha_without_premultiplying() {
        let img = ImageBuffer::from_fn(2, 2, |x, y| Rgba([200, 100 + x as u8, 50 + y as u8, (x * 100) as u8]));
        let got = decode(&encode(&DynamicImage::ImageRgba8(img), ImageFormat::Png)).unwrap();
        assert_eq!(got.get_pixel(0, 0).0, [200, 100, 50]);
        assert_eq!(got.get_pixel(1, 1).0, [200, 101, 51]);
    }

    #[test]
    fn grey_and_grey_alpha_are_replicated() {
        let g = image::GrayImage::from_raw(3, 1, vec![0, 128, 255]).unwrap();
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
}
