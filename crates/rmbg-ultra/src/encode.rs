//! Output files, written so that a crash or kill never leaves a half-written one: encode into a
//! temporary file in the target folder, flush it to disk, then rename it into place.

use crate::{Error, Result};
use image::{ExtendedColorType, ImageEncoder};

/// Image formats we write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Png,
    WebpLossless,
    Tiff,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::WebpLossless => "webp",
            Format::Tiff => "tiff",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "png" => Ok(Format::Png),
            "webp" => Ok(Format::WebpLossless),
            "tif" | "tiff" => Ok(Format::Tiff),
            _ => Err(Error::InvalidParameter { name: "format", value: s.into(), allowed: "png, webp, tiff".into() }),
        }
    }
}

/// Encodes 8-bit pixels (`color`: L8, Rgb8 or Rgba8) into `format`.
pub fn encode(pixels: &[u8], width: u32, height: u32, color: ExtendedColorType, format: Format) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let res = match format {
        Format::Png => image::codecs::png::PngEncoder::new_with_quality(
            &mut out,
            image::codecs::png::CompressionType::Fast,
            image::codecs::png::FilterType::Adaptive,
        )
        .write_image(pixels, width, height, color),
        Format::WebpLossless => image::codecs::webp::WebPEncoder::new_lossless(&mut out).write_image(pixels, width, height, color),
        Format::Tiff => image::codecs::tiff::TiffEncoder::new(std::io::Cursor::new(&mut out)).write_image(pixels, width, height, color),
    };
    res.map_err(|e| Error::Encode { format, reason: e.to_string() })?;
    Ok(out)
}

pub use crate::fs::write_atomic;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_round_trips() {
        let px: Vec<u8> = (0..2 * 3 * 4).map(|v| v as u8 * 10).collect();
        let bytes = encode(&px, 2, 3, ExtendedColorType::Rgba8, Format::Png).unwrap();
        let back = image::load_from_memory(&bytes).unwrap().to_rgba8();
        assert_eq!(back.into_raw(), px);
    }

    #[test]
    fn webp_is_lossless() {
        let px: Vec<u8> = (0..5 * 4 * 4).map(|v| (v * 37 % 256) as u8).collect();
        let bytes = encode(&px, 5, 4, ExtendedColorType::Rgba8, Format::WebpLossless).unwrap();
        assert_eq!(image::load_from_memory(&bytes).unwrap().to_rgba8().into_raw(), px);
    }
}
