"""An uploaded file turned into an image array, or refused with a status and a reason.

What a server that decodes strangers' files must refuse, and how each is caught:

* **too many bytes**: Flask's ``MAX_CONTENT_LENGTH`` stops reading the request at
  :data:`MAX_UPLOAD_BYTES` and answers 413 (see :mod:`fer.serve.app`);
* **an empty upload** or **a file that is not an image**: 400 and 415;
* **too many pixels**: Pillow reads the width and height from the header without
  decoding, so an image over :data:`MAX_PIXELS` is refused (413) before any memory
  is spent on it;
* **a decompression bomb**: a small file that claims an enormous image (a PNG of a
  few kilobytes can unpack to gigabytes).  Pillow raises ``DecompressionBombError``
  past twice its ``MAX_IMAGE_PIXELS`` and warns past it; the warning is made an
  error here, so both are refused (413) before decoding;
* **a broken file** (truncated, corrupt data): Pillow fails while decoding: 400.

A message never echoes the upload: the file's name is cleaned by :func:`display_name`
(and is never used as a path), and Pillow's own words are kept without the bytes some
of them quote from the file (:func:`pillow_reason`).
"""
from __future__ import annotations

import io
import re
import warnings

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
"""20 MiB: a 50-megapixel phone photo is about 15 MB as JPEG."""

MAX_PIXELS = 50_000_000
"""50 megapixels (a 8660x5770 photo): the largest phone cameras; as 8-bit RGB that is 150 MB."""


NAME_CHARACTERS = 60
"""A file name in a message is cut to this many characters."""


class UploadError(Exception):
    """An upload the server refuses: ``status`` is the HTTP status, the message says why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def display_name(filename: str | None) -> str:
    """The name of an uploaded file as messages show it: its last path part (a browser sends
    ``photo.jpg``, a script may send ``../../etc/passwd``), letters, digits, spaces and ``._-`` only,
    at most :data:`NAME_CHARACTERS` long; ``upload`` when nothing is left."""
    last = re.split(r"[/\\]", filename or "")[-1]
    cleaned = re.sub(r"[^\w.\- ]", "_", last, flags=re.ASCII).strip(" .")
    return cleaned[:NAME_CHARACTERS] or "upload"


def pillow_reason(error: Exception) -> str:
    """Pillow's message for a broken file, without the file's bytes that some messages quote
    (``not a TIFF file (header b'II*\\x00...' not valid)``), nor anything past 120 characters."""
    text = re.sub(r"b'(?:[^'\\]|\\.)*'" + r'|b"(?:[^"\\]|\\.)*"', "<bytes>", str(error))
    return re.sub(r"[^ -~]", "?", text)[:120] or type(error).__name__


def read_upload(data: bytes, name: str = "upload", max_pixels: int = MAX_PIXELS):
    """The image in ``data`` as (H, W, 3) uint8 RGB, turned upright as its EXIF says
    (phones store photos sideways; browsers show them turned, so boxes must match).
    ``name`` is the file's name, for the messages.  Raises :class:`UploadError`."""
    import numpy as np
    from PIL import Image, ImageOps

    if not data:
        raise UploadError(400, f"{name}: the file is empty (0 bytes)")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise UploadError(413, f"{name}: the image is {width}x{height} = {width * height / 1e6:.1f} "
                                           f"megapixels, over the limit of {max_pixels / 1e6:g}")
                return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise UploadError(413, f"{name}: refused as a decompression bomb ({pillow_reason(error)})") from None
        except Image.UnidentifiedImageError:
            raise UploadError(415, f"{name}: not an image (Pillow reads JPEG, PNG, WebP, GIF, BMP, TIFF, ...)") \
                from None
        except (OSError, ValueError, SyntaxError, EOFError) as error:
            # truncated or corrupt data; Pillow reports some broken headers as SyntaxError
            raise UploadError(400, f"{name}: the image cannot be decoded ({pillow_reason(error)})") from None
