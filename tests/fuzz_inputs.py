"""Hostile and unusual image files derived from the test suite's real photos
(tests/face_photos.py), for the fuzz tests of fer.serve and fer.predict and for
benchmarks/load_serve.py.

``fuzz_inputs(seed)`` gives a seeded list of :class:`FuzzInput` (a name with the
extension a client would send, the bytes, and the kind of damage): every mode and
container Pillow meets in the wild (16-bit, CMYK, palette, LA, animated GIF, PNG and
WebP, EXIF orientations 1-8, one pixel), files broken on purpose (truncated at random
points, random bit flips, another format's magic bytes, a PNG declaring a huge size,
empty, not an image at all) and a JPEG sent as ``.png``.  The photos are shrunk to at
most ``side`` pixels, so that finding faces in the hundreds that still decode stays quick.
"""
from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

from face_photos import group_photo, load


@dataclass(frozen=True)
class FuzzInput:
    name: str    # the file name sent with it ("photo.png"), extension as a client would give it
    data: bytes
    kind: str    # what was done to it ("truncated", "bit flips", "cmyk", ...)


MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "jpeg": b"\xff\xd8\xff\xe0", "gif": b"GIF89a", "bmp": b"BM",
         "tiff": b"II*\x00", "webp": b"RIFF\x00\x00\x00\x00WEBP", "pdf": b"%PDF-1.4", "zip": b"PK\x03\x04",
         "ico": b"\x00\x00\x01\x00", "psd": b"8BPS"}
SAVE_AS = {"png": "PNG", "jpg": "JPEG", "gif": "GIF", "bmp": "BMP", "tiff": "TIFF", "webp": "WEBP"}


def photos(side: int) -> dict[str, np.ndarray]:
    """The real photos as (H, W, 3) uint8, at most ``side`` pixels a side: one face each
    (two portraits), six faces (the group photo) and none (the café table)."""
    group, _ = group_photo()
    found = {"astronaut": load("astronaut.jpg"), "grace_hopper": load("grace_hopper.jpg"),
             "group": group, "coffee": load("coffee.jpg")}
    return {name: shrink(pixels, side) for name, pixels in found.items()}


def shrink(pixels: np.ndarray, side: int) -> np.ndarray:
    image = Image.fromarray(pixels)
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    return np.asarray(image)


def encode(image: Image.Image, kind: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=kind, **options)
    return buffer.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")


def png_declaring(width: int, height: int, depth: int = 8, colour: int = 2) -> bytes:
    """A PNG whose header (with a valid checksum) declares width x height, followed by one
    tiny IDAT: what a client claiming an enormous image sends."""
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (MAGIC["png"] + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + png_chunk(b"IEND", b""))


def modes(rgb: np.ndarray) -> list[tuple[str, str, bytes]]:
    """(name, kind, bytes) of one photo in every mode and container worth trying."""
    image = Image.fromarray(rgb)
    grey = image.convert("L")
    wide = np.asarray(grey, np.uint16) * 257
    frames = [image, image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), grey.convert("RGB")]
    return [
        ("sixteen.png", "16-bit grey", encode(Image.fromarray(wide), "PNG")),
        ("sixteen.tiff", "16-bit grey", encode(Image.fromarray(wide), "TIFF")),
        ("thirtytwo.tiff", "32-bit int", encode(Image.fromarray(wide.astype(np.int32)), "TIFF")),
        ("float.tiff", "32-bit float", encode(Image.fromarray(wide.astype(np.float32) / 65535), "TIFF")),
        ("cmyk.jpg", "cmyk", encode(image.convert("CMYK"), "JPEG")),
        ("cmyk.tiff", "cmyk", encode(image.convert("CMYK"), "TIFF")),
        ("palette.png", "palette", encode(image.convert("P", palette=Image.Palette.ADAPTIVE), "PNG")),
        ("palette.gif", "palette", encode(image.convert("P"), "GIF")),
        ("palette.bmp", "palette", encode(image.convert("P"), "BMP")),
        ("la.png", "LA", encode(grey.convert("LA"), "PNG")),
        ("rgba.png", "RGBA", encode(image.convert("RGBA"), "PNG")),
        ("bilevel.png", "1-bit", encode(image.convert("1"), "PNG")),
        ("grey.jpg", "grey", encode(grey, "JPEG")),
        ("ycbcr.jpg", "YCbCr", encode(image.convert("YCbCr"), "JPEG")),
        ("animated.gif", "animated GIF", encode(frames[0], "GIF", save_all=True, append_images=frames[1:],
                                                duration=100, loop=0)),
        ("animated.png", "animated PNG", encode(frames[0], "PNG", save_all=True, append_images=frames[1:])),
        ("animated.webp", "animated WebP", encode(frames[0], "WEBP", save_all=True, append_images=frames[1:])),
        ("photo.webp", "WebP", encode(image, "WEBP")),
        ("photo.bmp", "BMP", encode(image, "BMP")),
        ("photo.tiff", "TIFF", encode(image, "TIFF")),
        ("photo.ico", "ICO", encode(image, "ICO")),
        ("progressive.jpg", "progressive JPEG", encode(image, "JPEG", progressive=True)),
        ("jpeg-named.png", "JPEG named .png", encode(image, "JPEG")),
        ("png-named.jpg", "PNG named .jpg", encode(image, "PNG")),
    ]


def exif_orientations(rgb: np.ndarray) -> list[tuple[str, str, bytes]]:
    """The photo as JPEG with each EXIF orientation 1-8 (and an invalid 9 and 0)."""
    found = []
    for orientation in range(0, 10):
        exif = Image.Exif()
        exif[0x0112] = orientation
        found.append((f"orientation-{orientation}.jpg", f"EXIF orientation {orientation}",
                      encode(Image.fromarray(rgb), "JPEG", exif=exif)))
    return found


def special_files() -> list[tuple[str, str, bytes]]:
    one = Image.new("RGB", (1, 1), "white")
    return [
        ("empty.jpg", "zero bytes", b""),
        ("one-pixel.png", "one pixel", encode(one, "PNG")),
        ("one-pixel.jpg", "one pixel", encode(one, "JPEG")),
        ("one-pixel.gif", "one pixel", encode(one, "GIF")),
        ("one-row.png", "one row", encode(Image.new("L", (3000, 1)), "PNG")),
        ("huge.png", "huge declared size", png_declaring(100_000, 100_000)),
        ("huge-16bit.png", "huge declared size", png_declaring(60_000, 60_000, depth=16)),
        ("tall.png", "huge declared size", png_declaring(1, 2**31 - 1)),
        ("zero-size.png", "huge declared size", png_declaring(0, 0)),
        ("notes.txt.png", "not an image", b"name,emotion\nalice,happy\n"),
        ("page.html.jpg", "not an image", b"<!doctype html><script>alert(1)</script>"),
        ("noise.png", "not an image", bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8))),
    ]


def fuzz_inputs(seed: int = 0, side: int = 160, truncations: int = 150, flips: int = 200,
                magics: int = 40) -> list[FuzzInput]:
    """Every input of the module's docstring for each photo, then ``truncations``
    files cut at a random byte, ``flips`` files with 1-16 random bits flipped and
    ``magics`` files whose first bytes are another format's magic, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    pictures = photos(side)
    found = [FuzzInput(name, data, kind) for name, kind, data in special_files()]
    encoded = []   # (name, bytes) of the plain encodings, the raw material of the damage
    for title, rgb in pictures.items():
        for name, kind, data in modes(rgb) + exif_orientations(rgb):
            found.append(FuzzInput(f"{title}-{name}", data, kind))
        for extension, kind in SAVE_AS.items():
            encoded.append((f"{title}.{extension}", encode(Image.fromarray(rgb), kind)))
    pool = encoded + [(f.name, f.data) for f in found if f.data]

    def pick():
        return pool[rng.integers(len(pool))]

    for _ in range(truncations):
        name, data = pick()
        found.append(FuzzInput(name, data[:rng.integers(1, len(data))], "truncated"))
    for _ in range(flips):
        name, data = pick()
        damaged = np.frombuffer(data, np.uint8).copy()
        at = rng.integers(0, len(damaged), rng.integers(1, 17))
        damaged[at] ^= (1 << rng.integers(0, 8, len(at))).astype(np.uint8)
        found.append(FuzzInput(name, damaged.tobytes(), "bit flips"))
    magic = list(MAGIC.values())
    for _ in range(magics):
        name, data = pick()
        other = magic[rng.integers(len(magic))]
        found.append(FuzzInput(name, other + data[len(other):], "wrong magic bytes"))
    return found
