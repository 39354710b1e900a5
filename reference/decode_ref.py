"""Reference decoder for tests/parity_decode.rs: what ComfyUI's LoadImage gets from Pillow.

    decode_ref.py DIR SEED [PHOTO ...]
        Writes test files made with Pillow (and OpenCV for 16-bit colour PNG) into DIR: JPEGs with
        EXIF orientations 1..8, grey / CMYK / progressive / subsampled JPEGs, XMP orientation,
        RGBA / 16-bit / palette / grey / 1-bit PNGs, PNG with eXIf or XMP, lossless and lossy WebP,
        TIFF, BMP, GIF (one with a transparent index), and a truncated JPEG and PNG. Then decodes
        every made file and every PHOTO with
        `ImageOps.exif_transpose(Image.open(f)).convert("RGB")` into DIR/out_<id>.npy and lists
        them in DIR/cases.json: [{"id", "file", "what", "error"}] ("error" is null or Pillow's
        message when Pillow refuses the file).
"""

import io
import json
import os
import sys

import numpy as np
from PIL import Image, ImageOps


def smooth_rgb(rng, w, h):
    """Random smooth colours plus a little noise: JPEG-friendly but not trivial."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        fx, fy, ph = rng.uniform(0.02, 0.3), rng.uniform(0.02, 0.3), rng.uniform(0, 6.3)
        out[..., c] = 128 + 100 * np.sin(fx * xx + fy * yy + ph)
    out += rng.normal(0, 12, out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def exif_with_orientation(o):
    exif = Image.Exif()
    exif[274] = o
    return exif.tobytes()


def make_files(d, rng):
    made = []

    def save(name, what, fn):
        path = os.path.join(d, name)
        fn(path)
        made.append((path, what))

    w, h = int(rng.integers(17, 60)), int(rng.integers(17, 60))
    rgb = Image.fromarray(smooth_rgb(rng, w, h))
    grey = rgb.convert("L")

    for o in range(1, 9):
        save(f"orient{o}.jpg", f"JPEG EXIF orientation {o}", lambda p, o=o: rgb.save(p, "JPEG", quality=90, exif=exif_with_orientation(o)))
    save("orient6_444.jpg", "JPEG 4:4:4, orientation 6", lambda p: rgb.save(p, "JPEG", quality=95, subsampling=0, exif=exif_with_orientation(6)))
    save("s422.jpg", "JPEG 4:2:2", lambda p: rgb.save(p, "JPEG", quality=85, subsampling=1))
    save("progressive.jpg", "progressive JPEG", lambda p: rgb.save(p, "JPEG", quality=80, progressive=True))
    save("grey.jpg", "grey JPEG", lambda p: grey.save(p, "JPEG", quality=90))
    save("grey_orient8.jpg", "grey JPEG, orientation 8", lambda p: grey.save(p, "JPEG", quality=90, exif=exif_with_orientation(8)))
    save("cmyk.jpg", "CMYK JPEG", lambda p: rgb.convert("CMYK").save(p, "JPEG", quality=90))
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description tiff:Orientation="3"/></x:xmpmeta>'
    save("xmp3.jpg", "JPEG with XMP orientation 3 only", lambda p: rgb.save(p, "JPEG", quality=90, xmp=xmp))
    col = Image.fromarray(smooth_rgb(rng, 1, int(rng.integers(9, 40))))
    row = Image.fromarray(smooth_rgb(rng, int(rng.integers(9, 40)), 1))
    save("column.jpg", "1-pixel-wide JPEG", lambda p: col.save(p, "JPEG"))
    save("row.jpg", "1-pixel-high JPEG", lambda p: row.save(p, "JPEG"))

    alpha = Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8))
    rgba = rgb.copy()
    rgba.putalpha(alpha)
    save("rgba.png", "RGBA PNG", lambda p: rgba.save(p, "PNG"))
    la = grey.copy()
    la.putalpha(alpha)
    save("la.png", "LA PNG", lambda p: la.save(p, "PNG"))
    save("grey.png", "L PNG", lambda p: grey.save(p, "PNG"))
    save("bilevel.png", "1-bit PNG", lambda p: grey.convert("1").save(p, "PNG"))
    g16 = Image.fromarray(rng.integers(0, 700, (h, w), dtype=np.uint16))
    save("grey16.png", "16-bit grey PNG (I;16)", lambda p: g16.save(p, "PNG"))
    import cv2

    c16 = rng.integers(0, 65536, (h, w, 3), dtype=np.uint16)
    save("rgb16.png", "16-bit RGB PNG", lambda p: cv2.imwrite(p, c16))
    c16a = rng.integers(0, 65536, (h, w, 4), dtype=np.uint16)
    save("rgba16.png", "16-bit RGBA PNG", lambda p: cv2.imwrite(p, c16a))
    pal = rgb.quantize(colors=int(rng.integers(2, 200)))
    save("palette.png", "palette PNG", lambda p: pal.save(p, "PNG"))
    save("palette_trns.png", "palette PNG with transparency", lambda p: pal.save(p, "PNG", transparency=0))
    pal16 = rgb.quantize(colors=16)
    save("palette4bit.png", "4-bit palette PNG", lambda p: pal16.save(p, "PNG", bits=4))
    save("orient5.png", "PNG with eXIf orientation 5", lambda p: rgb.save(p, "PNG", exif=exif_with_orientation(5)))
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", '<rdf:Description><tiff:Orientation>7</tiff:Orientation></rdf:Description>')
    save("xmp7.png", "PNG with XMP orientation 7", lambda p: rgb.save(p, "PNG", pnginfo=info))

    save("lossless.webp", "lossless WebP, EXIF orientation 6", lambda p: rgba.save(p, "WEBP", lossless=True, exif=exif_with_orientation(6)))
    save("lossy.webp", "lossy WebP", lambda p: rgb.save(p, "WEBP", quality=80))
    save("lossy_alpha.webp", "lossy WebP with alpha", lambda p: rgba.save(p, "WEBP", quality=80))
    save("trns.gif", "GIF with transparency", lambda p: pal.save(p, "GIF", transparency=0))
    save("rgb.tiff", "TIFF RGB, orientation 8", lambda p: rgb.save(p, "TIFF", exif=exif_with_orientation(8)))
    save("lzw.tiff", "TIFF LZW", lambda p: rgb.save(p, "TIFF", compression="tiff_lzw"))
    save("rgb.bmp", "BMP", lambda p: rgb.save(p, "BMP"))
    save("pal.gif", "GIF", lambda p: pal.save(p, "GIF"))

    big = Image.fromarray(smooth_rgb(rng, 96, 80))
    buf = io.BytesIO()
    big.save(buf, "JPEG", quality=90)
    save("truncated.jpg", "truncated JPEG", lambda p: open(p, "wb").write(buf.getvalue()[: len(buf.getvalue()) // 2]))
    buf = io.BytesIO()
    big.save(buf, "PNG")
    save("truncated.png", "truncated PNG", lambda p: open(p, "wb").write(buf.getvalue()[: len(buf.getvalue()) // 2]))
    return made


def decode(path):
    with Image.open(path) as im:
        return np.ascontiguousarray(np.asarray(ImageOps.exif_transpose(im).convert("RGB")))


def main():
    d, seed, photos = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    rng = np.random.default_rng(seed)
    cases = make_files(d, rng) + [(p, "photo") for p in photos]
    out = []
    for i, (path, what) in enumerate(cases):
        err = None
        try:
            np.save(os.path.join(d, f"out_{i}.npy"), decode(path))
        except Exception as e:  # Pillow refuses the file: the Rust side must refuse it too
            err = f"{type(e).__name__}: {e}"
        out.append({"id": i, "file": path, "what": what, "error": err})
    json.dump(out, open(os.path.join(d, "cases.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
