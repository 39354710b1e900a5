"""The Ray Data recipe (examples/ray) on a local Ray cluster that this module starts (2 CPUs, 2
actors): every output equals the CLI's for the same folder, byte for byte, and a corrupt file is
reported and skipped. Run by scripts/test-ray.sh, which builds and pip-installs the wheel.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import ray

import rmbg_ultra
from rmbg_ultra.ray_data import RmbgUltra, output_name, remove_folder

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = ROOT / "testdata" / "photos"
EXAMPLE = Path(__file__).resolve().parent / "remove_folder.py"
OPTIONS = ["--method", "GuidedFilter", "--device", "cpu", "--offline"]


def cli_binary():
    p = Path(os.environ.get("RMBG_ULTRA_BIN", ROOT / "target" / "release" / "rmbg-ultra"))
    if not p.is_file():
        pytest.fail(f"{p} is missing: scripts/test-ray.sh builds it")
    return p


@pytest.fixture(scope="module")
def cluster():
    # Two actors of half a CPU each leave one of the two CPUs to the read and write tasks (with an
    # actor per CPU they would wait for each other forever).
    ray.init(num_cpus=2, include_dashboard=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """The shared photos, one in a subfolder and one with dots in its name, plus a truncated JPEG
    and a file that is no image (skipped by extension, as the CLI skips it)."""
    d = tmp_path_factory.mktemp("photos")
    (d / "sub").mkdir()
    for name in ["animal", "baby", "graphic", "people"]:
        shutil.copy(PHOTOS / f"{name}.jpg", d / f"{name}.jpg")
    shutil.copy(PHOTOS / "car.jpg", d / "car.v2.jpg")
    shutil.copy(PHOTOS / "product.jpg", d / "sub" / "product.jpg")
    (d / "broken.jpg").write_bytes((PHOTOS / "baby.jpg").read_bytes()[:3000])
    (d / "notes.txt").write_text("not an image")
    return d


@pytest.fixture(scope="module")
def cli_out(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli")
    p = subprocess.run([str(cli_binary()), "remove", "--quiet", "--save-mask", *OPTIONS, "-o", str(out), str(inputs)],
                       capture_output=True, text=True)
    assert p.returncode == 1, f"the CLI fails the batch for broken.jpg: {p.returncode} {p.stderr}"
    return out


def files(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_example_on_two_actors_writes_the_clis_files(cluster, inputs, cli_out, tmp_path):
    out = tmp_path / "ray"
    p = subprocess.run([sys.executable, str(EXAMPLE), str(inputs), "-o", str(out), "--address", cluster, "--actors", "2",
                        "--num-cpus", "0.5", "--batch-size", "2", "--save-mask", *OPTIONS],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 1, f"one file failed, so the run does: {p.returncode}\n{p.stderr[-3000:]}"
    assert "6 written, 1 failed" in p.stderr, p.stderr[-3000:]
    assert f"failed: cannot read image {inputs / 'broken.jpg'}: truncated JPEG file" in p.stderr, p.stderr[-3000:]
    want, got = files(cli_out), files(out)
    assert sorted(got) == sorted(want), "the same files, named as the CLI names them"
    assert "car.v2.png" in got and "sub/product.mask.png" in got
    for name, data in want.items():
        assert got[name] == data, f"{name} differs from the CLI's"


def test_one_file_and_rows(cluster, inputs, cli_out, tmp_path):
    rows = remove_folder(str(inputs / "sub" / "product.jpg"), str(tmp_path), concurrency=1, num_cpus=0.5,
                         method="GuidedFilter", device="cpu", offline=True)
    assert rows == [{"path": str(inputs / "sub" / "product.jpg"), "output": str(tmp_path / "product.png"), "error": None}]
    assert (tmp_path / "product.png").read_bytes() == (cli_out / "sub" / "product.png").read_bytes()


def test_decoded_image_column_and_bad_items_become_errors():
    """`image` columns (e.g. read_images) work too; an image the remover refuses is a row with
    its error, not a failed batch (no Ray needed for the stage itself)."""
    stage = RmbgUltra(method="GuidedFilter", device="cpu", offline=True)
    good = rmbg_ultra.decode((PHOTOS / "car.jpg").read_bytes())[:300, :200].copy()
    batch = {"path": np.array(["a.png", "b.png"], dtype=object), "image": np.array([good, np.zeros((4, 4), np.uint8)], dtype=object)}
    table = stage(batch).to_pydict()
    assert table["path"] == ["a.png", "b.png"]
    assert table["png"][0] == rmbg_ultra.encode(stage.remover.remove(good)[0]) and table["png"][1] is None
    assert table["error"][0] is None
    assert table["error"][1].startswith("b.png: expected shape (H, W, 3), got (4, 4)"), table["error"][1]


def test_output_names_follow_the_cli():
    assert output_name("/in/a/b.c.jpg", "/in") == "a/b.c.png"
    assert output_name("/in/x.JPG", "/in/") == "x.png"
    assert output_name("s3://bucket/in/x.tif", "s3://bucket/in", "webp") == "x.webp"
    assert output_name("/elsewhere/y.png", "/in") == "y.png"
    assert output_name("/in/z.jpeg") == "z.png"
