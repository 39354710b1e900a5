"""Ray Data stages for rmbg_ultra (Ray itself is not a dependency of the package: install `ray[data]`).

    import ray
    from rmbg_ultra.ray_data import RmbgUltra, write_files

    ds = ray.data.read_binary_files("photos/", include_paths=True)
    ds = ds.map_batches(RmbgUltra, fn_constructor_kwargs={"method": "GuidedFilter"},
                        compute=ray.data.ActorPoolStrategy(size=2), batch_size=4)
    ds = ds.map_batches(write_files, fn_kwargs={"output": "cutouts/", "root": "photos/"})
    failed = [r for r in ds.take_all() if r["error"]]

`read_binary_files` + the CLI's own decoder (in `RmbgUltra`) gives the actor exactly the pixels the
CLI decodes, so every PNG equals the one `rmbg-ultra remove` writes for that file. A file that
cannot be decoded or processed does not fail the job: its row carries the reason in `error` and
no output.
"""

from __future__ import annotations

import os
import posixpath
import re
import uuid

import rmbg_ultra

_ITEM_PREFIX = re.compile(r"^images\[\d+\]: ")
# The files `rmbg-ultra remove` takes from a folder.
IMAGE_EXTENSIONS = ["jpg", "jpeg", "png", "webp", "tif", "tiff", "bmp", "gif"]


def _table(**columns):
    """The batch as an Arrow table with explicit types: a batch whose column holds only None would
    otherwise get Arrow's null type, and mixing it with the other batches' strings turns the
    missing values into NaN."""
    import pyarrow as pa

    types = {"path": pa.string(), "png": pa.binary(), "mask_png": pa.binary(), "output": pa.string(), "error": pa.string()}
    return pa.table({k: pa.array(list(v), type=types[k]) for k, v in columns.items()})


def _missing(v):
    """None, or NaN where a conversion on the way made one of a null."""
    return v is None or (isinstance(v, float) and v != v)


class RmbgUltra:
    """A callable class for `Dataset.map_batches`: each actor loads the models once (its
    `rmbg_ultra.Remover`), then removes the background of every image of its batches.

    Input columns: `bytes` (image files, from `read_binary_files`), decoded as the CLI decodes, or
    `image` (uint8 RGB [H, W, 3] arrays); `path`, when there, is kept. Output columns: `path`,
    `png` (the cutout file as the CLI writes it, in `format`), `mask_png` (with `save_mask`), and
    `error` (None, or why this image has no output). Keyword arguments besides `save_mask`,
    `format` and `max_pixels` are `rmbg_ultra.Remover`'s.
    """

    def __init__(self, *, save_mask=False, format="png", max_pixels=rmbg_ultra.MAX_PIXELS, **remover_options):
        self.save_mask = save_mask
        self.format = format
        self.max_pixels = max_pixels
        self.remover = rmbg_ultra.Remover(**remover_options)

    def __call__(self, batch):
        n = len(next(iter(batch.values()))) if batch else 0
        paths = [str(p) for p in batch["path"]] if "path" in batch else [f"#{i}" for i in range(n)]
        images, errors = [None] * n, [None] * n
        if "image" in batch:
            images = list(batch["image"])
        elif "bytes" in batch:
            for i, data in enumerate(batch["bytes"]):
                try:
                    images[i] = rmbg_ultra.decode(data, max_pixels=self.max_pixels, name=paths[i])
                except rmbg_ultra.DecodeError as e:
                    errors[i] = str(e)
        else:
            raise KeyError(f"RmbgUltra needs a column `bytes` (read_binary_files) or `image`; got {sorted(batch)}")

        todo = [i for i in range(n) if errors[i] is None]
        results = self.remover.remove_batch([images[i] for i in todo], return_exceptions=True)
        pngs, masks = [None] * n, [None] * n
        for i, result in zip(todo, results):
            if isinstance(result, BaseException):
                errors[i] = f"{paths[i]}: {_ITEM_PREFIX.sub('', str(result))}"
                continue
            rgba, mask = result
            pngs[i] = rmbg_ultra.encode(rgba, self.format)
            if self.save_mask:
                masks[i] = rmbg_ultra.encode(mask, self.format)
        if self.save_mask:
            return _table(path=paths, png=pngs, mask_png=masks, error=errors)
        return _table(path=paths, png=pngs, error=errors)


def output_name(path, root=None, format="png"):
    """Where the CLI puts the cutout of `path` under its output folder: the path relative to
    `root` (the folder given as input; None: the file name alone), its last extension replaced."""
    path = _strip_scheme(str(path))
    if root is not None:
        rel = posixpath.relpath(path, _strip_scheme(os.fspath(root)).rstrip("/") or "/")
        if rel.startswith(".."):
            rel = posixpath.basename(path)
    else:
        rel = posixpath.basename(path)
    return posixpath.splitext(rel)[0] + f".{format}"


def _strip_scheme(p):
    p = p.replace(os.sep, "/")
    return p.split("://", 1)[1] if "://" in p else p


def _filesystem(output):
    """(pyarrow filesystem, base path) for a local folder or any URI pyarrow knows (s3://, gs://...)."""
    import pyarrow.fs

    if "://" not in str(output):
        return pyarrow.fs.LocalFileSystem(), os.path.abspath(os.fspath(output)).replace(os.sep, "/")
    return pyarrow.fs.FileSystem.from_uri(str(output))


def write_files(batch, *, output, root=None, format="png"):
    """A function for `Dataset.map_batches` after `RmbgUltra`: writes each `png` (and `mask_png`)
    to `output/<name>.<format>` (and `<name>.mask.<format>`), named as the CLI names them
    (see `output_name`); local files appear complete or not at all (written aside, then renamed).
    Returns `path`, `output` (what was written, None for a failed image) and `error`."""
    import pyarrow.fs

    fs, base = _filesystem(output)
    local = isinstance(fs, pyarrow.fs.LocalFileSystem)
    paths, errors = list(batch["path"]), list(batch["error"])
    masks = list(batch["mask_png"]) if "mask_png" in batch else [None] * len(paths)
    written = [None] * len(paths)
    for i, (path, png, mask) in enumerate(zip(paths, batch["png"], masks)):
        if _missing(errors[i]):
            errors[i] = None
        if errors[i] is not None or _missing(png):
            continue
        name = output_name(path, root, format)
        target = f"{base}/{name}"
        try:
            _write(fs, local, target, png)
            if not _missing(mask):
                _write(fs, local, posixpath.splitext(target)[0] + f".mask.{format}", mask)
            written[i] = target
        except OSError as e:
            errors[i] = f"{path}: writing {target}: {e}"
    return _table(path=paths, output=written, error=errors)


def _write(fs, local, target, data):
    fs.create_dir(posixpath.dirname(target), recursive=True)
    if not local:
        with fs.open_output_stream(target) as f:
            f.write(data)
        return
    part = f"{posixpath.dirname(target)}/.{posixpath.basename(target)}.{uuid.uuid4().hex}.part"
    try:
        with fs.open_output_stream(part) as f:
            f.write(data)
        fs.move(part, target)
    except BaseException:
        try:
            fs.delete_file(part)
        except OSError:
            pass
        raise


def remove_folder(input, output, *, concurrency=2, batch_size=4, num_cpus=1, save_mask=False, format="png",
                  **remover_options):
    """The whole recipe: every image file under `input` (a folder, a file, or a URI pyarrow reads)
    through `concurrency` actors of `RmbgUltra` (each holding `num_cpus` of Ray's CPUs), written
    to `output` as the CLI names its outputs. Returns one row per file, sorted by path:
    `{"path", "output", "error"}`. `remover_options` are `rmbg_ultra.Remover`'s."""
    import ray

    extensions = IMAGE_EXTENSIONS + [e.upper() for e in IMAGE_EXTENSIONS]
    root = None if "://" not in str(input) and os.path.isfile(input) else input
    ds = ray.data.read_binary_files(input, include_paths=True, file_extensions=extensions)
    ds = ds.map_batches(RmbgUltra, fn_constructor_kwargs=dict(save_mask=save_mask, format=format, **remover_options),
                        compute=ray.data.ActorPoolStrategy(size=concurrency), batch_size=batch_size, num_cpus=num_cpus)
    ds = ds.map_batches(write_files, fn_kwargs=dict(output=output, root=root, format=format))
    return sorted(ds.take_all(), key=lambda r: r["path"])
