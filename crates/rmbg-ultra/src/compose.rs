//! The outputs: an RGBA cutout (straight alpha; the node's RGB is the untouched input, the
//! `quality` profile's the estimated foreground colour), and what users make of it: premultiplied
//! RGBA, or the subject laid over a colour or a picture.

use crate::resample::pillow_bilinear_rgb;
use image::{GrayImage, RgbImage, RgbaImage};

/// Merge `rgb` (the input, or its estimated foreground) with `alpha` as the fourth channel
/// (`RGB2RGBA`).
pub fn cutout(rgb: &RgbImage, alpha: &GrayImage) -> RgbaImage {
    assert_eq!(rgb.dimensions(), alpha.dimensions(), "alpha must have the image's size");
    let mut out = Vec::with_capacity(rgb.as_raw().len() / 3 * 4);
    for (px, &a) in rgb.as_raw().chunks_exact(3).zip(alpha.as_raw()) {
        out.extend_from_slice(&[px[0], px[1], px[2], a]);
    }
    RgbaImage::from_raw(rgb.width(), rgb.height(), out).expect("buffer sized from the image")
}

/// A colour for `--background` / `background=`: `#rrggbb`, `r,g,b` (0-255) or a name (white,
/// black, grey, red, green, blue).
pub fn parse_color(s: &str) -> crate::Result<[u8; 3]> {
    let s = s.trim();
    let named = match s.to_ascii_lowercase().as_str() {
        "white" => Some([255, 255, 255]),
        "black" => Some([0, 0, 0]),
        "grey" | "gray" => Some([128, 128, 128]),
        "red" => Some([255, 0, 0]),
        "green" => Some([0, 255, 0]),
        "blue" => Some([0, 0, 255]),
        _ => None,
    };
    if let Some(c) = named {
        return Ok(c);
    }
    let hex = s.strip_prefix('#').unwrap_or(s);
    if hex.len() == 6 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        let v = u32::from_str_radix(hex, 16).expect("six hex digits");
        return Ok([(v >> 16) as u8, (v >> 8) as u8, v as u8]);
    }
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    if let [r, g, b] = parts[..] {
        if let (Ok(r), Ok(g), Ok(b)) = (r.parse(), g.parse(), b.parse()) {
            return Ok([r, g, b]);
        }
    }
    Err(crate::Error::InvalidParameter {
        name: "background",
        value: format!("{s:?}"),
        allowed: "#rrggbb, r,g,b (0-255) or a name (white, black, grey, red, green, blue)".into(),
    })
}

/// `c·a/255` rounded to nearest.
#[inline]
fn mix(fg: u8, bg: u8, a: u8) -> u8 {
    let a = a as u32;
    ((fg as u32 * a + bg as u32 * (255 - a) + 127) / 255) as u8
}

/// The cutout over a solid colour (rounded to nearest), for outputs without transparency.
pub fn over_color(cutout: &RgbaImage, background: [u8; 3]) -> RgbImage {
    let mut out = RgbImage::new(cutout.width(), cutout.height());
    for (dst, src) in out.as_mut().chunks_exact_mut(3).zip(cutout.as_raw().chunks_exact(4)) {
        for c in 0..3 {
            dst[c] = mix(src[c], background[c], src[3]);
        }
    }
    out
}

/// The cutout over a picture, which is scaled to cover the cutout (keeping its aspect ratio,
/// Pillow BILINEAR) and centred.
pub fn over_image(cutout: &RgbaImage, background: &RgbImage) -> RgbImage {
    let (w, h) = cutout.dimensions();
    let (bw, bh) = background.dimensions();
    let scale = (w as f64 / bw as f64).max(h as f64 / bh as f64);
    let (sw, sh) = (((bw as f64 * scale).round() as u32).max(w), ((bh as f64 * scale).round() as u32).max(h));
    let scaled = if (sw, sh) == (bw, bh) { background.clone() } else { pillow_bilinear_rgb(background, sw, sh) };
    let (x0, y0) = ((sw - w) / 2, (sh - h) / 2);
    let mut out = RgbImage::new(w, h);
    for y in 0..h {
        let row = &scaled.as_raw()[(((y0 + y) * sw + x0) * 3) as usize..(((y0 + y) * sw + x0 + w) * 3) as usize];
        let src = &cutout.as_raw()[(y * w * 4) as usize..((y + 1) * w * 4) as usize];
        let dst = &mut out.as_mut()[(y * w * 3) as usize..((y + 1) * w * 3) as usize];
        for ((d, s), b) in dst.chunks_exact_mut(3).zip(src.chunks_exact(4)).zip(row.chunks_exact(3)) {
            for c in 0..3 {
                d[c] = mix(s[c], b[c], s[3]);
            }
        }
    }
    out
}

/// Premultiplied alpha in place (`c·a/255`, rounded), for compositors that expect it.
pub fn premultiply(cutout: &mut RgbaImage) {
    for px in cutout.as_mut().chunks_exact_mut(4) {
        let a = px[3];
        for c in &mut px[..3] {
            *c = mix(*c, 0, a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutout_keeps_rgb_and_adds_alpha() {
        let rgb = RgbImage::from_raw(2, 1, vec![1, 2, 3, 4, 5, 6]).unwrap();
        let alpha = GrayImage::from_raw(2, 1, vec![0, 200]).unwrap();
        assert_eq!(cutout(&rgb, &alpha).into_raw(), vec![1, 2, 3, 0, 4, 5, 6, 200]);
    }

    #[test]
    fn background_shows_where_alpha_is_zero() {
        let rgb = RgbImage::from_raw(2, 1, vec![10, 20, 30, 10, 20, 30]).unwrap();
        let alpha = GrayImage::from_raw(2, 1, vec![0, 255]).unwrap();
        assert_eq!(over_color(&cutout(&rgb, &alpha), [255, 255, 255]).into_raw(), vec![255, 255, 255, 10, 20, 30]);
        let half = cutout(&rgb, &GrayImage::from_raw(2, 1, vec![128, 51]).unwrap());
        assert_eq!(over_color(&half, [0, 0, 0]).into_raw(), vec![5, 10, 15, 2, 4, 6]);
    }

    #[test]
    fn premultiplied_scales_colour_by_alpha() {
        let rgb = RgbImage::from_raw(3, 1, vec![200, 100, 50, 200, 100, 50, 200, 100, 50]).unwrap();
        let mut c = cutout(&rgb, &GrayImage::from_raw(3, 1, vec![0, 128, 255]).unwrap());
        premultiply(&mut c);
        assert_eq!(c.into_raw(), vec![0, 0, 0, 0, 100, 50, 25, 128, 200, 100, 50, 255]);
    }

    #[test]
    fn picture_background_covers_and_centres() {
        let rgb = RgbImage::from_pixel(4, 2, image::Rgb([9, 9, 9]));
        let alpha = GrayImage::from_raw(4, 2, vec![0, 0, 0, 255, 0, 0, 0, 0]).unwrap();
        // A 2×2 picture: left half red, right half blue; scaled ×2 to 4×4, rows 1..3 are used.
        let bg = RgbImage::from_fn(2, 2, |x, _| if x == 0 { image::Rgb([255, 0, 0]) } else { image::Rgb([0, 0, 255]) });
        let out = over_image(&cutout(&rgb, &alpha), &bg);
        assert_eq!(out.dimensions(), (4, 2));
        assert_eq!(out.get_pixel(0, 0).0, [255, 0, 0]);
        assert_eq!(out.get_pixel(3, 0).0, [9, 9, 9]);
        assert_eq!(out.get_pixel(3, 1).0[2], 255);
    }
}
