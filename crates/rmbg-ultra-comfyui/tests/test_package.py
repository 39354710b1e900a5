"""The general package, `import rmbg_ultra`: the CLI's results on decoded images, its errors, batches.

The CLI's output files are the reference: for the same photo and parameters, `rmbg_ultra.decode`
→ `Remover.remove` → `rmbg_ultra.encode` must give the bytes `rmbg-ultra remove` writes.
"""

import inspect
import subprocess
import threading
import time

import numpy as np
import pytest
from conftest import PHOTOS, VITMATTE_FIXTURE, cli_binary

import rmbg_ultra

PHOTO_NAMES = ["animal", "baby", "car", "graphic", "people", "product"]


def read_photo(name):
    return (PHOTOS / f"{name}.jpg").read_bytes()


@pytest.fixture(scope="session")
def tiny_seg(shared_models_dir):
    """The conftest's stand-in segmentation model: milliseconds instead of seconds per image."""
    return str(shared_models_dir / "rmbg" / "RMBG-1.4" / "model.onnx")


@pytest.fixture(scope="session")
def default_remover():
    """The CLI's defaults but GuidedFilter (ViTMatte's model is not fetched in tests)."""
    return rmbg_ultra.Remover(method="GuidedFilter", device="cpu", offline=True)


@pytest.fixture(scope="session")
def fast_remover(tiny_seg):
    return rmbg_ultra.Remover(method="GuidedFilter", seg_model=tiny_seg, device="cpu", offline=True)


def cli_outputs(tmp_path, paths, *options):
    """{stem: (cutout png bytes, mask png bytes)} as `rmbg-ultra remove --save-mask` writes them."""
    out = tmp_path / "cli"
    cmd = [str(cli_binary()), "remove", "--quiet", "--save-mask", "--device", "cpu", "--offline", "-o", str(out), *options,
           *map(str, paths)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    assert p.returncode == 0, f"{' '.join(cmd)}: {p.stderr}"
    return {p.stem: ((out / f"{p.stem}.png").read_bytes(), (out / f"{p.stem}.mask.png").read_bytes()) for p in paths}


def check_equal(name, rgba, mask, want):
    png, mask_png = want
    assert rgba.dtype == np.uint8 and mask.dtype == np.uint8
    assert np.array_equal(rgba[..., 3], mask), f"{name}: alpha is the mask"
    assert rmbg_ultra.encode(rgba) == png, f"{name}: cutout differs from the CLI's"
    assert rmbg_ultra.encode(mask) == mask_png, f"{name}: mask differs from the CLI's"


# --- the CLI's results ---------------------------------------------------------------------------

def test_batch_equals_cli_on_the_shared_photos(default_remover, tmp_path):
    paths = [PHOTOS / f"{n}.jpg" for n in PHOTO_NAMES]
    want = cli_outputs(tmp_path, paths, "--method", "GuidedFilter")
    images = [rmbg_ultra.decode(read_photo(n)) for n in PHOTO_NAMES]
    results = default_remover.remove_batch(images)
    assert len(results) == len(PHOTO_NAMES)
    for name, image, (rgba, mask) in zip(PHOTO_NAMES, images, results):
        assert rgba.shape == image.shape[:2] + (4,) and mask.shape == image.shape[:2]
        check_equal(name, rgba, mask, want[name])
    # One image on its own gives what it gave in the batch.
    rgba, mask = default_remover.remove(images[0])
    check_equal(PHOTO_NAMES[0], rgba, mask, want[PHOTO_NAMES[0]])


@pytest.mark.parametrize("options, cli", [
    (dict(profile="node", method="GuidedFilter", erode=10, dilate=4, black_point=0.05, white_point=0.9),
     ["--profile", "node", "--method", "GuidedFilter", "--erode", "10", "--dilate", "4", "--black-point", "0.05",
      "--white-point", "0.9"]),
    (dict(profile="quality", method="vitmatte", matting_model=str(VITMATTE_FIXTURE), max_megapixels=1.0, foreground="blur"),
     ["--method", "vitmatte", "--matting-model", str(VITMATTE_FIXTURE), "--max-megapixels", "1", "--foreground", "blur"]),
    (dict(profile="quality", process_detail=False, foreground="off"), ["--no-detail", "--foreground", "off"]),
], ids=["node-guided-filter", "quality-vitmatte-blur", "no-detail"])
def test_parameters_mean_what_the_clis_options_mean(options, cli, tiny_seg, tmp_path):
    if "matting_model" in options and not VITMATTE_FIXTURE.is_file():
        pytest.skip(f"{VITMATTE_FIXTURE} is missing")
    names = ["animal", "people"]
    want = cli_outputs(tmp_path, [PHOTOS / f"{n}.jpg" for n in names], "--seg-model", tiny_seg, *cli)
    remover = rmbg_ultra.Remover(seg_model=tiny_seg, device="cpu", offline=True, **options)
    for name in names:
        rgba, mask = remover.remove(rmbg_ultra.decode(read_photo(name)))
        check_equal(name, rgba, mask, want[name])
    params = remover.params
    for k, v in options.items():
        if k in params:
            assert params[k] == v or str(params[k]).lower() == str(v).lower(), (k, params[k], v)


def test_the_default_method_is_the_profiles(tiny_seg):
    """As the CLI: no method named is PyMatting under the quality profile (it needs no download)."""
    remover = rmbg_ultra.Remover(seg_model=tiny_seg, device="cpu", offline=True)
    assert (remover.params["profile"], remover.params["method"]) == ("quality", "PyMatting")
    assert remover.params["process_detail"] is True


def test_any_rgb_array_like_is_accepted(fast_remover):
    """A strided view or another array-like (here a PIL image) is copied into a contiguous uint8
    array first: same result as the contiguous array."""
    from PIL import Image

    image = rmbg_ultra.decode(read_photo("car"))[:200, :300]
    rgba, mask = fast_remover.remove(np.ascontiguousarray(image[:, ::2]))
    rgba2, mask2 = fast_remover.remove(image[:, ::2])
    assert np.array_equal(rgba, rgba2) and np.array_equal(mask, mask2)
    rgba3, mask3 = fast_remover.remove(Image.fromarray(image))
    assert np.array_equal(rgba3, fast_remover.remove(image)[0]) and mask3.shape == (200, 300)


def test_outputs_are_fresh_writable_arrays(fast_remover):
    image = rmbg_ultra.decode(read_photo("car"))[:64, :64]
    rgba, mask = fast_remover.remove(image)
    assert rgba.flags.c_contiguous and rgba.flags.writeable and mask.flags.writeable
    assert not np.shares_memory(rgba, image) and not np.shares_memory(rgba, mask)
    assert np.array_equal(rgba[..., 3], mask)
    assert image.flags.writeable, "decode returns a writable array"


# --- errors --------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad, error, message", [
    (np.zeros((8, 8, 3), np.float32), TypeError, r"image: expected uint8 data, got typestr <f4"),
    (np.zeros((8, 8, 3), np.uint16), TypeError, r"expected uint8 data, got typestr <u2"),
    (np.zeros((8, 8, 3), bool), TypeError, r"expected uint8 data, got typestr \|b1"),
    (np.zeros((8, 8), np.uint8), ValueError, r"image: expected shape \(H, W, 3\), got \(8, 8\)"),
    (np.zeros((8, 8, 4), np.uint8), ValueError, r"expected shape \(H, W, 3\), got \(8, 8, 4\)"),
    (np.zeros((2, 8, 8, 3), np.uint8), ValueError, r"got \(2, 8, 8, 3\)"),
    (np.zeros((0, 8, 3), np.uint8), ValueError, r"image: empty image \(0x8\)"),
    ([[1, 2, 3]], TypeError, r"expected uint8 data, got typestr <i8"),
    ("photo.jpg", TypeError, r"expected uint8 data, got typestr <U9"),
])
def test_bad_images_say_what_is_wrong(fast_remover, bad, error, message):
    with pytest.raises(error, match=message) as e:
        fast_remover.remove(bad)
    if "empty" not in message:
        assert "uint8 array [H, W, 3]" in str(e.value), "the message says what an image must be"


def test_defaults_and_lists_are_the_clis():
    params = inspect.signature(rmbg_ultra.Remover).parameters
    defaults = {name: p.default for name, p in params.items()}
    assert {k: defaults[k] for k in ("profile", "method", "device", "erode", "dilate", "black_point", "white_point",
                                     "process_detail", "max_megapixels", "foreground", "fast")} == dict(
        profile="quality", method=None, device="auto", erode=6, dilate=6, black_point=0.01, white_point=0.99,
        process_detail=True, max_megapixels=2.0, foreground=None, fast=False)
    assert rmbg_ultra.PROFILES == ["quality", "node"] and rmbg_ultra.FOREGROUNDS == ["ml", "blur", "off"]
    assert rmbg_ultra.DEVICES == ["auto", "cpu", "cuda"]
    assert rmbg_ultra.METHODS == ["VITMatte", "VITMatte(local)", "vitmatte-base-composition-1k", "PyMatting", "GuidedFilter"]
    assert rmbg_ultra.MAX_PIXELS == 100_000_000 == inspect.signature(rmbg_ultra.decode).parameters["max_pixels"].default


@pytest.mark.parametrize("options, message", [
    (dict(erode=0), r"invalid erode = 0: allowed 1..=255"),
    (dict(dilate=300), r"invalid dilate = 300: allowed 1..=255"),
    (dict(black_point=0.0), r"invalid black_point = 0: allowed 0.01..=0.98"),
    (dict(white_point=1.0), r"invalid white_point = 1"),
    (dict(max_megapixels=0.5), r"invalid max_megapixels = 0.5"),
    (dict(method="Matting"), r"invalid method = Matting: allowed VITMatte"),
    (dict(profile="best"), r"invalid profile = best: allowed node, quality"),
    (dict(foreground="red"), r"invalid foreground = red: allowed ml, blur, off"),
    (dict(device="tpu"), r"invalid device = tpu: allowed auto, cpu, cuda"),
    (dict(fast=True, profile="node"), r"invalid fast = true with profile node"),
])
def test_bad_parameters_name_parameter_value_and_range(options, message, tiny_seg):
    with pytest.raises(ValueError, match=message):
        rmbg_ultra.Remover(seg_model=tiny_seg, offline=True, **options)


def test_missing_model_names_the_command_that_fetches_it(tmp_path, monkeypatch):
    # The runtime stays where it is; the model cache is an empty folder.
    monkeypatch.setenv("ORT_DYLIB_PATH", str(rmbg_ultra._native.runtime_library()))
    monkeypatch.setenv("RMBG_ULTRA_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(rmbg_ultra.ModelNotFound) as e:
        rmbg_ultra.Remover(offline=True)
    msg = str(e.value)
    assert "isnet-general" in msg and "not installed" in msg and str(tmp_path / "empty-cache") in msg, msg
    assert "`rmbg-ultra models fetch isnet-general`" in msg and "`python -m rmbg_ultra fetch isnet-general`" in msg, msg
    assert isinstance(e.value, rmbg_ultra.RmbgUltraError)
    assert e.value.model == "isnet-general" and any(str(tmp_path / "empty-cache") in p for p in e.value.searched), vars(e.value)
    with pytest.raises(rmbg_ultra.ModelNotFound, match=r"no-such\.onnx: neither a known model id nor an existing file") as e:
        rmbg_ultra.Remover(seg_model=str(tmp_path / "no-such.onnx"), offline=True)
    assert e.value.searched == [], vars(e.value)


def test_decode_errors_name_the_file():
    data = read_photo("baby")
    # (A GIF header of text claims 28205×29807 pixels.)
    for bad, reason, kind in [(data[:3000], "truncated", "truncated"), (b"", "empty file", "empty"),
                              (b"GIF89a-not-really", "cannot read image", "too_large"),
                              (b"hello world, no image", "not a recognised image format", "unrecognised")]:
        with pytest.raises(rmbg_ultra.DecodeError, match=reason) as e:
            rmbg_ultra.decode(bad, name="shots/baby.jpg")
        assert "shots/baby.jpg" in str(e.value)
        assert isinstance(e.value, rmbg_ultra.RmbgUltraError)
        assert e.value.kind == kind, (bad[:20], e.value.kind)
    with pytest.raises(rmbg_ultra.DecodeError, match=r"more than the limit of 1000") as e:
        rmbg_ultra.decode(data, max_pixels=1000)
    assert e.value.kind == "too_large"
    # bytearray and memoryview work like bytes.
    assert np.array_equal(rmbg_ultra.decode(bytearray(data)), rmbg_ultra.decode(memoryview(data)))


def test_encode_writes_grey_rgb_and_rgba_and_refuses_other_shapes(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for shape, mode in [((5, 7), "L"), ((5, 7, 3), "RGB"), ((5, 7, 4), "RGBA")]:
        a = rng.integers(0, 256, shape, dtype=np.uint8)
        for fmt in ["png", "webp", "tiff"]:
            p = tmp_path / f"x.{fmt}"
            p.write_bytes(rmbg_ultra.encode(a, fmt))
            back = Image.open(p)
            if fmt == "webp" and mode == "L":
                back = back.convert("L")  # WebP has no grey format: stored as RGB, R = G = B
            assert back.mode == mode and np.array_equal(np.asarray(back), a), (shape, fmt)
    with pytest.raises(ValueError, match=r"expected shape .* got \(5, 7, 2\)"):
        rmbg_ultra.encode(np.zeros((5, 7, 2), np.uint8))
    with pytest.raises(TypeError, match="expected uint8 data"):
        rmbg_ultra.encode(np.zeros((5, 7), np.float64))
    with pytest.raises(ValueError, match=r"invalid format = jpeg"):
        rmbg_ultra.encode(np.zeros((5, 7), np.uint8), "jpeg")


# --- batches -------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def pymatting_node(tiny_seg):
    """The node's PyMatting refuses an image without foreground (here: a black one, for the stand-in
    model): a per-image error of the library."""
    return rmbg_ultra.Remover(profile="node", method="PyMatting", seg_model=tiny_seg, device="cpu", offline=True)


def small_photos():
    """Three small images that have both subject and background for the stand-in model (which
    takes bright pixels for the subject): a bright block on a dark textured ground."""
    rng = np.random.default_rng(7)
    out = []
    for left in (10, 25, 40):
        img = rng.integers(0, 60, (60, 80, 3), dtype=np.uint8)
        img[15:45, left:left + 30] = rng.integers(200, 256, (30, 30, 3), dtype=np.uint8)
        out.append(img)
    return out


def test_batch_with_bad_items_returns_their_errors_in_place(pymatting_node):
    a, b, c = small_photos()
    black = np.zeros((40, 30, 3), np.uint8)
    items = [a, np.zeros((40, 30, 3), np.float32), b, black, "not an image", c, np.zeros((40, 30), np.uint8)]
    results = pymatting_node.remove_batch(items, return_exceptions=True)
    assert len(results) == len(items)
    kinds = [type(r).__name__ if isinstance(r, BaseException) else "ok" for r in results]
    assert kinds == ["ok", "TypeError", "ok", "RmbgUltraError", "TypeError", "ok", "ValueError"], kinds
    assert str(results[1]).startswith("images[1]: expected uint8 data")
    assert str(results[3]).startswith("images[3]: PyMatting: the trimap has no foreground"), str(results[3])
    assert str(results[6]).startswith("images[6]: expected shape (H, W, 3), got (40, 30)")
    for image, r in zip([a, b, c], [results[0], results[2], results[5]]):
        rgba, mask = r
        want_rgba, want_mask = pymatting_node.remove(image)
        assert np.array_equal(rgba, want_rgba) and np.array_equal(mask, want_mask)


def test_batch_raises_the_first_error_by_default(pymatting_node):
    a, b, _ = small_photos()
    with pytest.raises(TypeError, match=r"^images\[1\]: expected uint8 data"):
        pymatting_node.remove_batch([a, np.zeros((4, 4, 3), np.float32), b])
    with pytest.raises(rmbg_ultra.RmbgUltraError, match=r"^images\[1\]: PyMatting: the trimap has no foreground"):
        pymatting_node.remove_batch([a, np.zeros((40, 30, 3), np.uint8), b])
    assert pymatting_node.remove_batch([]) == []
    results = pymatting_node.remove_batch(iter([a, b]))
    assert len(results) == 2 and all(r[0].shape == (60, 80, 4) for r in results)


@pytest.mark.parametrize("call", ["remove", "remove_batch"])
def test_the_gil_is_released_while_images_are_processed(default_remover, call):
    """Python code runs in another thread while the remover works: samples of the clock taken by the
    main thread fall inside the call."""
    image = rmbg_ultra.decode(read_photo("animal"))
    span = {}

    def work():
        span["start"] = time.perf_counter()
        if call == "remove":
            default_remover.remove(image)
        else:
            default_remover.remove_batch([image, image[::-1].copy()])
        span["end"] = time.perf_counter()

    t = threading.Thread(target=work)
    samples = []
    t.start()
    while t.is_alive():
        samples.append(time.perf_counter())
        time.sleep(0.001)
    t.join()
    inside = [s for s in samples if span["start"] < s < span["end"]]
    assert span["end"] - span["start"] > 0.2, "the call is long enough to tell"
    # With the GIL held for the call no sample could fall inside it; ~1 per ms while it is free.
    assert len(inside) > 50, f"{len(inside)} samples in {span['end'] - span['start']:.2f} s"
