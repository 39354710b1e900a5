//! One image as the front-ends run it: decode → segment → refine and compose → encode, each stage
//! timed under one name. The service's workers call [`run`]; the CLI's batch calls the stage
//! functions itself, so that image N+1 decodes and image N−1 encodes while image N is in the
//! network. Both report the same [`Stage`] names (`--json` seconds, `/metrics`, `Server-Timing`).

use crate::compose;
use crate::decode::{decode_bytes, DecodeLimits};
use crate::encode::{encode as encode_pixels, Format};
use crate::params::{Params, Profile};
use crate::pipeline::{Cutout, Remover};
use crate::segment::SegmentationMap;
pub use crate::stage::{Stage, Timings};
use crate::Result;
use image::{ExtendedColorType, RgbImage, RgbaImage};
use std::path::Path;

/// What the cut-out is laid on.
#[derive(Debug, Clone, PartialEq)]
pub enum Backdrop {
    /// Straight alpha (RGBA).
    Transparent,
    /// Colour already multiplied by alpha (RGBA).
    Premultiplied,
    /// Composited onto a colour (RGB).
    Color([u8; 3]),
    /// Composited onto a picture, scaled to cover and centred (RGB).
    Image(RgbImage),
}

/// Which images one input gives, in which format.
#[derive(Debug, Clone, PartialEq)]
pub struct Outputs {
    pub format: Format,
    /// The cut-out on its backdrop; `None`: not made.
    pub cutout: Option<Backdrop>,
    /// The alpha as an 8-bit grey image.
    pub mask: bool,
}

/// The encoded files of one input, as [`Outputs`] asked.
#[derive(Debug, Clone, Default)]
pub struct Encoded {
    pub cutout: Option<Vec<u8>>,
    pub mask: Option<Vec<u8>>,
}

/// The whole body for one image held in memory. `bytes` is taken by value and freed once decoded,
/// the image once cut out, so that a worker holds one of them at a time.
pub fn run(
    remover: &Remover,
    bytes: Vec<u8>,
    name: &Path,
    limits: &DecodeLimits,
    params: &Params,
    outputs: &Outputs,
) -> (Result<Encoded>, Timings) {
    let mut timings = Timings::default();
    let result = (|| {
        let image = timings.time(Stage::Decode, || decode_bytes(&bytes, name, limits))?;
        drop(bytes);
        params.validate()?;
        let map = segment(remover, &image, params.profile, &mut timings)?;
        let cut = finish(remover, &image, &map, params, &mut timings)?;
        drop((image, map));
        encode(cut, outputs, &mut timings)
    })();
    (result, timings)
}

/// The segmentation network's map: the one stage that needs the network.
pub fn segment(remover: &Remover, image: &RgbImage, profile: Profile, timings: &mut Timings) -> Result<SegmentationMap> {
    timings.time(Stage::Segment, || remover.predict(image, profile))
}

/// Everything after the network, up to the RGBA cut-out.
pub fn finish(remover: &Remover, image: &RgbImage, map: &SegmentationMap, params: &Params, timings: &mut Timings) -> Result<Cutout> {
    let cut = remover.remove_predicted(image, map, params)?;
    timings.add(&cut.timings);
    Ok(cut)
}

/// The cut-out on its backdrop and/or the mask, encoded. Takes the cut-out by value: the
/// premultiplied output reuses its buffer.
pub fn encode(cut: Cutout, outputs: &Outputs, timings: &mut Timings) -> Result<Encoded> {
    timings.time(Stage::Encode, || {
        let (w, h) = cut.mask.dimensions();
        let mask = outputs.mask.then(|| encode_pixels(cut.mask.as_raw(), w, h, ExtendedColorType::L8, outputs.format)).transpose()?;
        let cutout = outputs.cutout.as_ref().map(|backdrop| encode_cutout(cut.rgba, backdrop, outputs.format)).transpose()?;
        Ok(Encoded { cutout, mask })
    })
}

fn encode_cutout(mut rgba: RgbaImage, backdrop: &Backdrop, format: Format) -> Result<Vec<u8>> {
    let (w, h) = rgba.dimensions();
    let rgb = |out: RgbImage| encode_pixels(out.as_raw(), w, h, ExtendedColorType::Rgb8, format);
    match backdrop {
        Backdrop::Transparent => encode_pixels(rgba.as_raw(), w, h, ExtendedColorType::Rgba8, format),
        Backdrop::Premultiplied => {
            compose::premultiply(&mut rgba);
            encode_pixels(rgba.as_raw(), w, h, ExtendedColorType::Rgba8, format)
        }
        Backdrop::Color(color) => rgb(compose::over_color(&rgba, *color)),
        Backdrop::Image(picture) => rgb(compose::over_image(&rgba, picture)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::GrayImage;

    fn cut() -> Cutout {
        let mask = GrayImage::from_fn(5, 3, |x, y| image::Luma([(x * 60 + y * 7) as u8]));
        let rgba = RgbaImage::from_fn(5, 3, |x, y| image::Rgba([(x * 50) as u8, (y * 90) as u8, 200, mask.get_pixel(x, y)[0]]));
        Cutout { rgba, mask, timings: Timings::default() }
    }

    fn decoded(bytes: &[u8]) -> image::DynamicImage {
        image::load_from_memory(bytes).unwrap()
    }

    #[test]
    fn each_backdrop_encodes_what_it_names() {
        let c = cut();
        let mut timings = Timings::default();
        let ask = |cutout| Outputs { format: Format::Png, cutout, mask: false };
        let straight = encode(c.clone(), &ask(Some(Backdrop::Transparent)), &mut timings).unwrap();
        assert_eq!(decoded(&straight.cutout.unwrap()).to_rgba8(), c.rgba);
        assert!(straight.mask.is_none());
        let mut premultiplied = c.rgba.clone();
        compose::premultiply(&mut premultiplied);
        let got = encode(c.clone(), &ask(Some(Backdrop::Premultiplied)), &mut timings).unwrap();
        assert_eq!(decoded(&got.cutout.unwrap()).to_rgba8(), premultiplied);
        let got = encode(c.clone(), &ask(Some(Backdrop::Color([9, 8, 7]))), &mut timings).unwrap();
        assert_eq!(decoded(&got.cutout.unwrap()).as_rgb8().unwrap(), &compose::over_color(&c.rgba, [9, 8, 7]));
        let picture = RgbImage::from_fn(7, 2, |x, _| image::Rgb([x as u8 * 30, 1, 2]));
        let got = encode(c.clone(), &ask(Some(Backdrop::Image(picture.clone()))), &mut timings).unwrap();
        assert_eq!(decoded(&got.cutout.unwrap()).as_rgb8().unwrap(), &compose::over_image(&c.rgba, &picture));
        assert!(timings.get(Stage::Encode).is_some());
    }

    #[test]
    fn the_mask_comes_alone_or_with_the_cutout() {
        let c = cut();
        let mut timings = Timings::default();
        let only = encode(c.clone(), &Outputs { format: Format::Tiff, cutout: None, mask: true }, &mut timings).unwrap();
        assert!(only.cutout.is_none());
        assert_eq!(decoded(&only.mask.unwrap()).to_luma8(), c.mask);
        let both =
            encode(c.clone(), &Outputs { format: Format::WebpLossless, cutout: Some(Backdrop::Transparent), mask: true }, &mut timings)
                .unwrap();
        assert_eq!(decoded(&both.mask.unwrap()).to_luma8(), c.mask);
        assert_eq!(decoded(&both.cutout.unwrap()).to_rgba8(), c.rgba);
    }
}
