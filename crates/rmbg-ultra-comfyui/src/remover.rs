//! The `rmbg_ultra` package's side: decoded RGB (uint8 `[H, W, 3]`) in, the CLI's cutout and mask
//! (uint8) out, for one image or a batch, plus the library's own decoder and encoder, so that a
//! Python caller gets exactly the CLI's pixels and files.

use crate::array::{self, any_overlap, Dtype, Layout};
use crate::to_py;
use image::RgbImage;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use rmbg_ultra::decode::{decode_bytes, DecodeLimits};
use rmbg_ultra::encode::Format;
use rmbg_ultra::models::ModelStore;
use rmbg_ultra::params::{self as table, in_our_terms, Given, MAX_PIXELS};
use rmbg_ultra::job::{Stage, Timings};
use rmbg_ultra::{Params, RemoverOptions};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Instant;

const RGB_HINT: &str =
    "an RGB image is a uint8 array [H, W, 3], e.g. np.asarray(pil_image.convert('RGB')) or rmbg_ultra.decode(file_bytes)";

/// This API names parameters as the CLI does (the table's names).
fn param_err(e: rmbg_ultra::Error) -> PyErr {
    to_py(in_our_terms(e))
}

/// A library error about one item of a batch, its index first.
fn item_err(py: Python<'_>, index: usize, e: rmbg_ultra::Error) -> PyErr {
    let err = to_py(e);
    let msg = format!("images[{index}]: {}", err.value(py));
    PyErr::from_type(err.get_type(py), msg)
}

/// A shape as Python writes a tuple: `(480, 640, 4)`.
fn shape_str(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => format!("({})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    }
}

fn numpy_empty<'py>(py: Python<'py>, shape: &[usize]) -> PyResult<Bound<'py, PyAny>> {
    py.import("numpy")?.getattr("empty")?.call1((PyTuple::new(py, shape)?, "uint8"))
}

/// One image checked and given its outputs, all owned by Python objects held by the caller.
struct Job {
    image: Layout,
    rgba: Layout,
    mask: Layout,
    width: usize,
    height: usize,
}

impl Job {
    /// Checks `obj` and allocates its outputs: `(job, rgba array, mask array)`.
    fn new<'py>(py: Python<'py>, obj: &Bound<'py, PyAny>, what: &str) -> PyResult<(Job, Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let image = array::read_typed(obj, what, Dtype::U8, false).map_err(|e| {
            let msg = format!("{} ({RGB_HINT})", e.value(py));
            PyErr::from_type(e.get_type(py), msg)
        })?;
        let [height, width, 3] = image.shape[..] else {
            return Err(PyValueError::new_err(format!("{what}: expected shape (H, W, 3), got {}; {RGB_HINT}", shape_str(&image.shape))));
        };
        if height == 0 || width == 0 {
            return Err(PyValueError::new_err(format!("{what}: empty image ({height}x{width})")));
        }
        if u32::try_from(height).is_err() || u32::try_from(width).is_err() {
            return Err(PyValueError::new_err(format!("{what}: {height}x{width} is too large")));
        }
        let rgba_obj = numpy_empty(py, &[height, width, 4])?;
        let mask_obj = numpy_empty(py, &[height, width])?;
        let rgba = array::read(&rgba_obj, "rgba", Dtype::U8, true)?;
        let mask = array::read(&mask_obj, "mask", Dtype::U8, true)?;
        // Fresh arrays never overlap the input; checked because the slices below rely on it.
        if any_overlap(&[&image, &rgba, &mask]) {
            return Err(PyValueError::new_err(format!("{what}: shares memory with its outputs")));
        }
        Ok((Job { image, rgba, mask, width, height }, rgba_obj, mask_obj))
    }

    /// # Safety
    /// The Python objects behind the three layouts must stay alive, unresized and untouched by
    /// anyone else until the job is done.
    unsafe fn rgb(&self) -> RgbImage {
        RgbImage::from_raw(self.width as u32, self.height as u32, self.image.u8s().to_vec()).expect("checked shape")
    }

    /// # Safety
    /// As [`Job::rgb`].
    unsafe fn write(&self, cut: &rmbg_ultra::Cutout) {
        self.rgba.u8s_mut().copy_from_slice(cut.rgba.as_raw());
        self.mask.u8s_mut().copy_from_slice(cut.mask.as_raw());
    }
}

pub(crate) fn timings_dict<'py>(py: Python<'py>, t: &Timings) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (stage, took) in t.recorded() {
        d.set_item(stage.name(), took.as_secs_f64())?;
    }
    Ok(d)
}

/// Background remover on decoded RGB images with fixed parameters: models loaded once.
#[pyclass(frozen, module = "rmbg_ultra_comfyui._native")]
pub struct ImageRemover {
    inner: rmbg_ultra::Remover,
    params: Params,
}

#[pymethods]
impl ImageRemover {
    /// Parameters as the CLI's `remove` options (same names and ranges; the defaults are the
    /// Python side's, from `_native.PARAMS`). `method` and `foreground`: None for the profile's;
    /// `fast`: the quality profile on the int8 model; `allow_fetch`: download missing models as the
    /// CLI does without `--offline`.
    #[new]
    #[pyo3(signature = (*, profile, method, seg_model, device, erode, dilate, black_point, white_point, process_detail,
        max_megapixels, foreground, fast, matting_model, comfyui_models, strict_device, allow_fetch))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        profile: &str,
        method: Option<&str>,
        seg_model: Option<String>,
        device: &str,
        erode: i64,
        dilate: i64,
        black_point: f64,
        white_point: f64,
        process_detail: bool,
        max_megapixels: f64,
        foreground: Option<&str>,
        fast: bool,
        matting_model: Option<String>,
        comfyui_models: Option<PathBuf>,
        strict_device: bool,
        allow_fetch: bool,
    ) -> PyResult<Self> {
        let given = Given { profile, method, erode, dilate, black_point, white_point, process_detail, max_megapixels, foreground, fast };
        let params = given.params().map_err(param_err)?;
        let mut options = RemoverOptions {
            seg_model: seg_model.unwrap_or_else(|| rmbg_ultra::models::DEFAULT_SEGMENTATION.to_string()),
            matting_model,
            comfyui_models,
            device: device.parse().map_err(param_err)?,
            strict_device,
            allow_fetch,
            store: ModelStore::open_default(),
        };
        if fast {
            options = options.fast(params.profile).map_err(param_err)?;
        }
        let inner = py
            .detach(|| {
                let inner = rmbg_ultra::Remover::new(options)?;
                inner.prepare(&params)?;
                Ok(inner)
            })
            .map_err(to_py)?;
        Ok(ImageRemover { inner, params })
    }

    /// The device the segmentation model really runs on (`cpu` or `cuda`).
    #[getter]
    fn device(&self) -> String {
        self.inner.device().to_string()
    }

    /// The segmentation model (an id or a path) as loaded.
    #[getter]
    fn seg_model(&self) -> String {
        self.inner.options().seg_model.clone()
    }

    /// The parameters, under the CLI's names.
    #[getter]
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let p = &self.params;
        let d = PyDict::new(py);
        d.set_item(table::PROFILE.name, p.profile.id())?;
        d.set_item(table::METHOD.name, p.method.name())?;
        d.set_item(table::ERODE.name, p.detail_erode)?;
        d.set_item(table::DILATE.name, p.detail_dilate)?;
        d.set_item(table::BLACK_POINT.name, p.black_point)?;
        d.set_item(table::WHITE_POINT.name, p.white_point)?;
        d.set_item(table::PROCESS_DETAIL.name, p.process_detail)?;
        d.set_item(table::MAX_MEGAPIXELS.name, p.max_megapixels)?;
        d.set_item(table::FOREGROUND.name, p.foreground.id())?;
        Ok(d)
    }

    /// `image`: uint8 `[H, W, 3]`, C-contiguous. Returns `(rgba [H, W, 4], mask [H, W], seconds
    /// per stage)`, new uint8 arrays.
    fn remove<'py>(&self, py: Python<'py>, image: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyTuple>> {
        let (job, rgba, mask) = Job::new(py, image, "image")?;
        let (inner, params) = (&self.inner, &self.params);
        let timings = py
            .detach(move || -> rmbg_ultra::Result<_> {
                // SAFETY: `image` is referenced by the caller and `rgba`, `mask` by this frame for
                // the whole call; the layouts were checked and do not overlap.
                let rgb = unsafe { job.rgb() };
                let cut = inner.remove(&rgb, params)?;
                unsafe { job.write(&cut) };
                Ok(cut.timings)
            })
            .map_err(to_py)?;
        PyTuple::new(py, [rgba, mask, timings_dict(py, &timings)?.into_any()])
    }

    /// Every image of `images` (a list), with the GIL released for the whole batch; image N+1 is
    /// in the network while image N is refined, as in the CLI's batch. Returns one entry per
    /// image: `(rgba, mask)`, or the exception that image raised (its message starts with
    /// `images[i]:`). With `stop_on_error`, an image of the wrong shape or dtype raises at once,
    /// before any work, and the batch stops at the first image that fails, the ones not done
    /// being `None`.
    #[pyo3(signature = (images, stop_on_error=false))]
    fn remove_batch<'py>(&self, py: Python<'py>, images: &Bound<'py, PyList>, stop_on_error: bool) -> PyResult<Bound<'py, PyList>> {
        let n = images.len();
        let mut results: Vec<Option<Bound<'py, PyAny>>> = vec![None; n];
        let mut jobs = Vec::with_capacity(n);
        for (i, obj) in images.iter().enumerate() {
            match Job::new(py, &obj, &format!("images[{i}]")) {
                Ok((job, rgba, mask)) => {
                    jobs.push((i, job));
                    results[i] = Some(PyTuple::new(py, [rgba, mask])?.into_any());
                }
                Err(e) => {
                    if stop_on_error {
                        return Err(e);
                    }
                    results[i] = Some(e.into_value(py).into_bound(py).into_any());
                }
            }
        }
        // `images` (and with it every input array) and `results` (every output array) stay
        // referenced by this frame until the batch is done.
        let (inner, params) = (&self.inner, &self.params);
        let outcomes: Vec<(usize, rmbg_ultra::Result<()>)> = py.detach(move || {
            let stop = AtomicBool::new(false);
            let mut outcomes = Vec::with_capacity(jobs.len());
            std::thread::scope(|scope| {
                let (tx, rx) = mpsc::sync_channel(1);
                let stop = &stop;
                scope.spawn(move || {
                    for (i, job) in jobs {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        // SAFETY: see above; only this thread reads the input, only the receiver
                        // below writes the outputs, after the job has been handed over.
                        let rgb = unsafe { job.rgb() };
                        let t = Instant::now();
                        let map = inner.predict(&rgb, params.profile);
                        if tx.send((i, job, rgb, map, t.elapsed())).is_err() {
                            break;
                        }
                    }
                });
                for (i, job, rgb, map, segment) in rx {
                    let outcome = map.and_then(|map| inner.remove_predicted(&rgb, &map, params)).map(|mut cut| {
                        cut.timings.record(Stage::Segment, segment);
                        // SAFETY: as above.
                        unsafe { job.write(&cut) };
                    });
                    if outcome.is_err() && stop_on_error {
                        stop.store(true, Ordering::SeqCst);
                    }
                    outcomes.push((i, outcome));
                }
            });
            outcomes
        });
        let mut done = vec![false; n];
        for (i, outcome) in outcomes {
            done[i] = true;
            if let Err(e) = outcome {
                results[i] = Some(item_err(py, i, e).into_value(py).into_bound(py).into_any());
            }
        }
        if stop_on_error {
            for (r, d) in results.iter_mut().zip(&done) {
                if !d {
                    *r = None;
                }
            }
        }
        PyList::new(py, results.into_iter().map(|r| r.unwrap_or_else(|| py.None().into_bound(py))))
    }
}

/// An image file's bytes → uint8 `[H, W, 3]`, decoded exactly as the CLI decodes files (EXIF
/// orientation applied, Pillow's `convert("RGB")` rules). `name` labels errors.
#[pyfunction]
#[pyo3(signature = (data, max_pixels=MAX_PIXELS, name=None))]
pub fn decode<'py>(py: Python<'py>, data: &[u8], max_pixels: u64, name: Option<PathBuf>) -> PyResult<Bound<'py, PyAny>> {
    let name = name.unwrap_or_else(|| PathBuf::from("<bytes>"));
    let rgb = py.detach(|| decode_bytes(data, &name, &DecodeLimits { max_pixels })).map_err(to_py)?;
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let out = numpy_empty(py, &[h, w, 3])?;
    let layout = array::read(&out, "decoded", Dtype::U8, true)?;
    // SAFETY: `out` is a fresh array of that shape, referenced here.
    unsafe { layout.u8s_mut() }.copy_from_slice(rgb.as_raw());
    Ok(out)
}

/// uint8 `[H, W, 4]` (RGBA), `[H, W, 3]` (RGB) or `[H, W]` (grey) → the bytes of the file the CLI
/// would write for it (`format`: png, webp (lossless) or tiff).
#[pyfunction]
#[pyo3(signature = (image, format="png"))]
pub fn encode<'py>(py: Python<'py>, image: &Bound<'py, PyAny>, format: &str) -> PyResult<Bound<'py, PyBytes>> {
    let format: Format = format.parse().map_err(to_py)?;
    let layout = array::read_typed(image, "image", Dtype::U8, false)?;
    let (h, w, color) = match layout.shape[..] {
        [h, w, 4] => (h, w, image::ExtendedColorType::Rgba8),
        [h, w, 3] => (h, w, image::ExtendedColorType::Rgb8),
        [h, w] | [h, w, 1] => (h, w, image::ExtendedColorType::L8),
        _ => {
            return Err(PyValueError::new_err(format!(
                "image: expected shape (H, W, 4), (H, W, 3) or (H, W), got {}",
                shape_str(&layout.shape)
            )))
        }
    };
    let (Ok(w32), Ok(h32)) = (u32::try_from(w), u32::try_from(h)) else {
        return Err(PyValueError::new_err(format!("image: {h}x{w} is too large")));
    };
    // SAFETY: `image` is referenced by the caller for the whole call.
    let pixels = unsafe { layout.u8s() };
    let bytes = py.detach(|| rmbg_ultra::encode::encode(pixels, w32, h32, color, format)).map_err(to_py)?;
    Ok(PyBytes::new(py, &bytes))
}
