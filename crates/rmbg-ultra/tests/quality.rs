//! The `quality` profile end to end on real photos and on a composite with a known alpha: what a
//! person would check (the background the node keeps is gone, the subject is whole, the cutout's
//! colours are sane), determinism, every method and foreground option, and bad parameters.
//! Needs the default segmentation model (`rmbg-ultra setup`, run by scripts/test.sh).

use rmbg_ultra_test_support as common;

use image::{GrayImage, RgbImage};
use rmbg_ultra::foreground::{estimate_foreground, ForegroundMethod};
use rmbg_ultra::segment::SegmentationMap;
use rmbg_ultra::{DetailMethod, Params, Profile, Remover, RemoverOptions};
use std::sync::OnceLock;

fn remover() -> &'static Remover {
    static R: OnceLock<Remover> = OnceLock::new();
    R.get_or_init(|| {
        Remover::new(RemoverOptions {
            // The tiny random-weight ViTMatte fixture: it exercises the ViTMatte path, not its quality.
            matting_model: Some(common::testdata("vitmatte/tiny-vitmatte.onnx").to_string_lossy().into_owned()),
            device: rmbg_ultra::Device::Cpu,
            ..RemoverOptions::default()
        })
        .expect("the default segmentation model is installed (run `rmbg-ultra setup`)")
    })
}

fn photo(name: &str) -> RgbImage {
    image::open(common::testdata(&format!("photos/{name}"))).unwrap().to_rgb8()
}

/// Mean of `mask` over the box `x0..x1 × y0..y1`.
fn box_mean(mask: &GrayImage, (x0, x1, y0, y1): (u32, u32, u32, u32)) -> f64 {
    let mut sum = 0u64;
    for y in y0..y1 {
        for x in x0..x1 {
            sum += mask.get_pixel(x, y)[0] as u64;
        }
    }
    sum as f64 / ((x1 - x0) * (y1 - y0)) as f64
}

/// animal.jpg (1086×1448): the bed sheet in the bottom-left corner, which the network scores at
/// 0.4–1.6 % and the node's 1/255 binarisation keeps as subject; and the kitten's chest.
const SHEET: (u32, u32, u32, u32) = (0, 200, 1250, 1448);
const CHEST: (u32, u32, u32, u32) = (450, 600, 800, 1000);

struct Animal {
    image: RgbImage,
    /// The quality profile's map and the node's (their network inputs are resized differently).
    map: SegmentationMap,
    node_map: SegmentationMap,
}

fn animal() -> &'static Animal {
    static A: OnceLock<Animal> = OnceLock::new();
    A.get_or_init(|| {
        let image = photo("animal.jpg");
        let map = remover().predict(&image, Profile::Quality).unwrap();
        let node_map = remover().predict(&image, Profile::Node).unwrap();
        Animal { image, map, node_map }
    })
}

#[test]
fn the_background_the_node_keeps_is_transparent_for_every_method() {
    let a = animal();
    let node = remover().remove_predicted(&a.image, &a.node_map, &Params { method: DetailMethod::GUIDED_FILTER, ..Params::node() }).unwrap();
    assert!(box_mean(&node.mask, SHEET) > 200.0, "the node keeps the sheet: {}", box_mean(&node.mask, SHEET));

    let mut cases: Vec<Params> = [DetailMethod::GUIDED_FILTER, DetailMethod::PYMATTING, DetailMethod::VITMATTE_LOCAL]
        .into_iter()
        .map(|method| Params { method, ..Params::default() })
        .collect();
    cases.push(Params { process_detail: false, ..Params::default() });
    for p in cases {
        let cut = remover().remove_predicted(&a.image, &a.map, &p).unwrap();
        let label = if p.process_detail { p.method.to_string() } else { "no detail".into() };
        assert!(box_mean(&cut.mask, SHEET) < 2.0, "{label}: sheet still {}", box_mean(&cut.mask, SHEET));
        assert!(box_mean(&cut.mask, CHEST) > 254.0, "{label}: chest {}", box_mean(&cut.mask, CHEST));
        let soft = cut.mask.as_raw().iter().filter(|&&v| v > 0 && v < 255).count();
        assert!(soft > 1000, "{label}: the edge is soft ({soft} pixels)");
        assert!(cut.rgba.pixels().zip(cut.mask.pixels()).all(|(c, m)| c[3] == m[0]), "{label}: alpha is the mask");
    }
}

#[test]
fn foreground_options_recolour_only_the_soft_edge_and_are_deterministic() {
    let a = animal();
    for foreground in ForegroundMethod::ALL {
        let p = Params { method: DetailMethod::GUIDED_FILTER, foreground, ..Params::default() };
        let cut = remover().remove_predicted(&a.image, &a.map, &p).unwrap();
        let again = remover().remove_predicted(&a.image, &a.map, &p).unwrap();
        assert_eq!(cut.rgba, again.rgba, "{foreground}: deterministic");
        let mut changed_in_edge = 0usize;
        for ((c, i), m) in cut.rgba.pixels().zip(a.image.pixels()).zip(cut.mask.pixels()) {
            let same = c[0] == i[0] && c[1] == i[1] && c[2] == i[2];
            if m[0] == 255 || foreground == ForegroundMethod::Off {
                assert!(same, "{foreground}: opaque pixels and `off` keep the input colour");
            } else if m[0] > 0 && !same {
                changed_in_edge += 1;
            }
        }
        if foreground != ForegroundMethod::Off {
            assert!(changed_in_edge > 1000, "{foreground}: the edge's colour is estimated ({changed_in_edge} pixels)");
        }
    }
}

#[test]
fn every_shared_photo_gives_a_subject_and_a_background() {
    for path in common::photos() {
        let image = image::open(&path).unwrap().to_rgb8();
        let cut = remover().remove(&image, &Params { method: DetailMethod::GUIDED_FILTER, ..Params::default() }).unwrap();
        let n = cut.mask.as_raw().len() as f64;
        let opaque = cut.mask.as_raw().iter().filter(|&&v| v == 255).count() as f64 / n;
        let clear = cut.mask.as_raw().iter().filter(|&&v| v == 0).count() as f64 / n;
        assert!(opaque > 0.1 && clear > 0.1, "{}: opaque {opaque:.2}, clear {clear:.2}", path.display());
    }
}

/// The lemur (pymatting's alpha, its foreground estimated from the photo) laid over a textured
/// background: I = αF + (1 − α)B, so the truth is known. `quality` must be closer to it than `node`
/// on the alpha (SAD) and on the cutout laid over a new colour.
#[test]
fn quality_beats_node_on_a_composite_with_known_alpha() {
    let lemur = image::open(common::testdata("lemur/lemur.png")).unwrap().to_rgb8();
    let alpha_gt = image::open(common::testdata("lemur/lemur_alpha.png")).unwrap().to_luma8();
    let (w, h) = lemur.dimensions();
    let alpha: Vec<f32> = alpha_gt.as_raw().iter().map(|&v| v as f32 / 255.0).collect();
    let fg = estimate_foreground(&lemur, &alpha, ForegroundMethod::Ml);
    // A sunlit wall: a smooth gradient with a faint brick texture (no salient object in it).
    let bg = RgbImage::from_fn(w, h, |x, y| {
        let brick = if (y / 22 % 2 == 0 && x % 60 < 2) || (y / 22 % 2 == 1 && (x + 30) % 60 < 2) || y % 22 < 2 { 18.0 } else { 0.0 };
        let g = 150.0 + 60.0 * (x as f32 / w as f32) - brick;
        image::Rgb([g as u8, (g * 0.9) as u8, (g * 0.75) as u8])
    });
    let composite = RgbImage::from_fn(w, h, |x, y| {
        let a = alpha[(y * w + x) as usize];
        let (f, b) = (fg.get_pixel(x, y).0, bg.get_pixel(x, y).0);
        image::Rgb(std::array::from_fn(|c| (a * f[c] as f32 + (1.0 - a) * b[c] as f32).round() as u8))
    });
    let new_bg = [20u8, 200, 60];
    let truth_over = |x: u32, y: u32, c: usize| {
        let a = alpha[(y * w + x) as usize];
        a * fg.get_pixel(x, y)[c] as f32 + (1.0 - a) * new_bg[c] as f32
    };
    let score = |p: &Params| {
        let cut = remover().remove(&composite, p).unwrap();
        let sad: f64 = cut.mask.as_raw().iter().zip(&alpha).map(|(&m, &a)| (m as f64 / 255.0 - a as f64).abs()).sum();
        let over = rmbg_ultra::compose::over_color(&cut.rgba, new_bg);
        let mut err = 0f64;
        for (x, y, px) in over.enumerate_pixels() {
            for c in 0..3 {
                err += (px[c] as f64 - truth_over(x, y, c) as f64).abs();
            }
        }
        (sad / 1000.0, err / (3 * w * h) as f64)
    };
    for method in [DetailMethod::GUIDED_FILTER, DetailMethod::PYMATTING] {
        let (node_sad, node_err) = score(&Params { method, ..Params::node() });
        let (q_sad, q_err) = score(&Params { method, ..Params::default() });
        eprintln!("{method}: SAD node {node_sad:.2} quality {q_sad:.2}; recomposite node {node_err:.3} quality {q_err:.3}");
        assert!(q_sad < node_sad, "{method}: SAD quality {q_sad} vs node {node_sad}");
        assert!(q_err < node_err, "{method}: recomposite quality {q_err} vs node {node_err}");
    }
}

#[test]
fn bad_parameters_are_named() {
    let a = animal();
    let e = remover().remove_predicted(&a.image, &a.map, &Params { detail_erode: 0, ..Params::default() }).unwrap_err().to_string();
    assert!(e.contains("detail_erode = 0") && e.contains("1..=255"), "{e}");
    let e = remover().remove_predicted(&a.image, &a.map, &Params { max_megapixels: 0.1, ..Params::default() }).unwrap_err().to_string();
    assert!(e.contains("max_megapixels"), "{e}");
    let e = "fine".parse::<Profile>().unwrap_err().to_string();
    assert!(e.contains("profile = fine") && e.contains("node, quality"), "{e}");
    let e = "colour".parse::<ForegroundMethod>().unwrap_err().to_string();
    assert!(e.contains("foreground = colour") && e.contains("ml, blur, off"), "{e}");
}
