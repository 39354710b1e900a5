//! Parity of `decode` with Pillow + ComfyUI's LoadImage
//! (`ImageOps.exif_transpose(Image.open(f)).convert("RGB")`): identical bytes on every test photo
//! and on files Pillow writes fresh each run (EXIF orientations, grey / CMYK / progressive JPEGs,
//! RGBA / 16-bit / palette PNGs, WebP, TIFF, BMP, GIF); files Pillow refuses must be refused.

use rmbg_ultra_test_support as common;

use common::{read_npy, run_reference};
use rmbg_ultra::decode::{decode_file, DecodeLimits};
use rmbg_ultra::Error;

#[test]
fn decode_matches_pillow_exif_transpose_convert_rgb() {
    let seed = common::fresh_seed();
    let dir = tempfile::tempdir().unwrap();
    let photos: Vec<String> = common::photos().iter().map(|p| p.to_str().unwrap().to_string()).collect();
    assert!(!photos.is_empty(), "no photos in testdata/photos");
    let mut args = vec![dir.path().to_str().unwrap().to_string(), seed.to_string()];
    args.extend(photos);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_reference("decode_ref.py", &args);

    let cases: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("cases.json")).unwrap()).unwrap();
    let cases = cases.as_array().unwrap();
    let limits = DecodeLimits::default();
    let mut failures = Vec::new();
    let mut n_photos = 0;
    for case in cases {
        let id = case["id"].as_u64().unwrap();
        let file = std::path::PathBuf::from(case["file"].as_str().unwrap());
        let what = case["what"].as_str().unwrap();
        n_photos += (what == "photo") as usize;
        let label = format!("{what} ({})", file.file_name().unwrap().to_string_lossy());
        let ours = decode_file(&file, &limits);
        match (case["error"].as_str(), ours) {
            (Some(pil_err), Ok(img)) => failures.push(format!(
                "{label}: Pillow refuses it ({pil_err}) but we decoded {}x{}",
                img.width(),
                img.height()
            )),
            (Some(_), Err(Error::Decode { path, kind })) => {
                assert_eq!(path, file, "the error names the file");
                eprintln!("{label}: refused by both; ours: {kind}");
            }
            (None, Err(e)) => failures.push(format!("{label}: Pillow decodes it, we fail: {e}")),
            (Some(_), Err(e)) => failures.push(format!("{label}: not a Decode error: {e}")),
            (None, Ok(img)) => {
                let (shape, want) = read_npy::<u8>(&dir.path().join(format!("out_{id}.npy")));
                let (w, h) = (img.width() as usize, img.height() as usize);
                if shape != vec![h, w, 3] {
                    failures.push(format!("{label}: we give {w}x{h}, Pillow {}x{}", shape[1], shape[0]));
                    continue;
                }
                let got = img.into_raw();
                if got != want {
                    let (agree, worst) = common::byte_agreement(&got, &want);
                    failures.push(format!("{label}: {:.3}% of bytes equal, worst difference {worst}", agree * 100.0));
                }
            }
        }
    }
    eprintln!("{} files compared ({n_photos} photos)", cases.len());
    assert!(n_photos >= 6, "expected the six test photos, got {n_photos}");
    common::assert_no_failures(&failures, format!("seed {seed}: {} of {} differ from Pillow", failures.len(), cases.len()));
}
