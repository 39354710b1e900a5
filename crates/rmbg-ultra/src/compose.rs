//! The node's outputs: RGBA = untouched input RGB + alpha (straight, not premultiplied), and the mask.

use image::{GrayImage, RgbImage, RgbaImage};

/// Merge the input's RGB with `alpha` as the fourth channel (`RGB2RGBA`).
pub fn cutout(rgb: &RgbImage, alpha: &GrayImage) -> RgbaImage {
    assert_eq!(rgb.dimensions(), alpha.dimensions(), "alpha must have the image's size");
    let mut out = Vec::with_capacity(rgb.as_raw().len() / 3 * 4);
    for (px, &a) in rgb.as_raw().chunks_exact(3).zip(alpha.as_raw()) {
        out.extend_from_slice(&[px[0], px[1], px[2], a]);
    }
    RgbaImage::from_raw(rgb.width(), rgb.height(), out).expect("buffer sized from the image")
}

/// Composite onto a solid colour (straight alpha, rounded to nearest), for outputs without transparency.
pub fn over_background(rgb: &RgbImage, alpha: &GrayImage, background: [u8; 3]) -> RgbImage {
    assert_eq!(rgb.dimensions(), alpha.dimensions(), "alpha must have the image's size");
    let mut out = RgbImage::new(rgb.width(), rgb.height());
    for ((dst, src), &a) in out.as_mut().chunks_exact_mut(3).zip(rgb.as_raw().chunks_exact(3)).zip(alpha.as_raw()) {
        let a = a as u32;
        for c in 0..3 {
            dst[c] = ((src[c] as u32 * a + background[c] as u32 * (255 - a) + 127) / 255) as u8;
        }
    }
    out
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
        assert_eq!(over_background(&rgb, &alpha, [255, 255, 255]).into_raw(), vec![255, 255, 255, 10, 20, 30]);
    }
}
