"""Rendering the report's blocks (:mod:`fer.report.document`): one self-contained HTML
page, and the same as Markdown.

The HTML inlines every figure as a base64 data URI: no file, font, stylesheet or script
is fetched, so the page opens offline anywhere, and it is one file to mail.  To keep it
small enough for that (about 2.3 MB for a seed-CNN study with the default figures, whose
PNGs take 10 MB) each figure is
re-encoded as it is inlined (:func:`embedded_image`): at most :data:`MAX_WIDTH` pixels
wide, in grey when it has no colour, a PNG of at most 256 colours when it is drawn
(curves, tables, matrices) and a JPEG when it is photo-like (grids of faces, noisy
saliency maps, feature maps), where a lossless PNG takes megabytes.  The figures in the
run folders stay as they are; the Markdown copies them next to itself.
"""
import base64
import html
import io
import shutil

import numpy as np
from PIL import Image

from .document import Bullets, Code, Figure, Heading, Note, Paragraph, Table

# =============================================================== figures for the page
MAX_WIDTH = 1300
"""Pixels: a wider figure is scaled down to this for the page.  Every figure the commands
draw is narrower (the widest, the training curves, is 1,210 pixels) and stays as drawn:
each keeps the resolution its 7-point labels were drawn at."""

PHOTO_BYTES_PER_PIXEL = 0.3
"""A figure whose lossless PNG takes more than this is photo-like and embedded as a JPEG:
drawn figures (lines, text, flat colour, blocky feature maps) take 0.01-0.1 bytes a pixel,
grids of faces or noisy maps 0.4-1.2, and a JPEG of those about 0.2."""

JPEG_QUALITY = 75
"""The usual quality of photographs on the web; the figures' black 7-point titles keep
clean enough edges (colour is stored at half resolution, brightness at full)."""


def embedded_image(path):
    """``(MIME type, bytes)`` of the figure at ``path`` as the HTML page embeds it.

    The figure is flattened onto white (matplotlib draws RGBA with an opaque white
    background), scaled down to :data:`MAX_WIDTH` when wider, kept in grey when all its
    pixels are grey, and encoded as a PNG, with at most 256 colours; when that PNG takes
    more than :data:`PHOTO_BYTES_PER_PIXEL` the figure is photo-like, and the smaller of
    it and a JPEG of :data:`JPEG_QUALITY` is embedded.
    """
    with Image.open(path) as opened:
        image = opened.convert("RGBA")
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    image = Image.alpha_composite(white, image).convert("RGB")
    if image.width > MAX_WIDTH:
        image = image.resize((MAX_WIDTH, round(image.height * MAX_WIDTH / image.width)), Image.Resampling.LANCZOS)
    pixels = np.asarray(image)
    if (pixels == pixels[..., :1]).all():
        image = image.convert("L")
    png = _encoded(image if image.mode == "L" else image.quantize(256, dither=Image.Dither.NONE), "PNG",
                   optimize=True)
    if len(png) <= PHOTO_BYTES_PER_PIXEL * image.width * image.height:
        return "image/png", png
    jpeg = _encoded(image, "JPEG", quality=JPEG_QUALITY, subsampling=2, optimize=True)
    return ("image/jpeg", jpeg) if len(jpeg) < len(png) else ("image/png", png)


def _encoded(image, kind, **options):
    buffer = io.BytesIO()
    image.save(buffer, kind, **options)
    return buffer.getvalue()


# =============================================================== HTML
CSS = """
body { font-family: system-ui, sans-serif; max-width: 62em; margin: 2em auto; padding: 0 1em;
       line-height: 1.45; color: #222; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .8em 0; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
pre { background: #f6f6f6; padding: .7em; overflow-x: auto; font-size: 85%; line-height: 1.25; }
code { background: #f2f2f2; padding: 0 .2em; }
img { max-width: 100%; }
figure { margin: 1em 0; }
figcaption { font-size: 90%; color: #555; }
.warning { border-left: 6px solid #c00; background: #fdecec; padding: .6em 1em; font-weight: bold; }
.missing { border-left: 6px solid #e90; background: #fff5e0; padding: .6em 1em; }
"""


def inline_html(text):
    """Escape ``text`` for HTML; `backticked` parts become <code>."""
    parts = text.split("`")
    return "".join(f"<code>{html.escape(p)}</code>" if k % 2 else html.escape(p) for k, p in enumerate(parts))


def data_uri(path):
    """The figure at ``path`` as a data URI, encoded by :func:`embedded_image`."""
    kind, data = embedded_image(path)
    return f"data:{kind};base64," + base64.b64encode(data).decode("ascii")


def block_html(block):
    if isinstance(block, Heading):
        return f"<h{block.level}>{inline_html(block.text)}</h{block.level}>"
    if isinstance(block, Paragraph):
        return f"<p>{inline_html(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{inline_html(item)}</li>" for item in block.items) + "</ul>"
    if isinstance(block, Note):
        label = "Missing: " if block.kind == "missing" else ""
        return f'<div class="{block.kind}">{label}{inline_html(block.text)}</div>'
    if isinstance(block, Table):
        head = "".join(f"<th>{inline_html(h)}</th>" for h in block.header)
        body = "".join("<tr>" + "".join(f"<td>{inline_html(c)}</td>" for c in row) + "</tr>" for row in block.rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if isinstance(block, Code):
        return f"<pre>{html.escape(block.text)}</pre>"
    if isinstance(block, Figure):
        return (f'<figure><img src="{data_uri(block.path)}" alt="{html.escape(block.caption)}">'
                f"<figcaption>{inline_html(block.caption)}</figcaption></figure>")
    raise TypeError(f"unknown block {block!r}")


def render_html(blocks):
    title = next(b.text for b in blocks if isinstance(b, Heading))
    body = "\n".join(block_html(b) for b in blocks)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
            f"<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


# =============================================================== Markdown
def table_cell(text):
    return text.replace("|", "\\|").replace("\n", " ")


def block_markdown(block, files_dir):
    """Markdown of one block; a Figure's PNG is copied into ``files_dir``."""
    if isinstance(block, Heading):
        return "#" * block.level + " " + block.text
    if isinstance(block, Paragraph):
        return block.text
    if isinstance(block, Bullets):
        return "\n".join(f"- {item}" for item in block.items)
    if isinstance(block, Note):
        return "> **" + ("Missing:** " if block.kind == "missing" else "Warning:** ") + block.text
    if isinstance(block, Table):
        lines = [block.header, ["---"] * len(block.header), *block.rows]
        return "\n".join("| " + " | ".join(table_cell(c) or " " for c in line) + " |" for line in lines)
    if isinstance(block, Code):
        return f"```\n{block.text}\n```"
    if isinstance(block, Figure):
        files_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(block.path, files_dir / block.name)
        return f"![{block.caption}]({files_dir.name}/{block.name})\n\n*{block.caption}*"
    raise TypeError(f"unknown block {block!r}")


def render_markdown(blocks, files_dir):
    return "\n\n".join(block_markdown(b, files_dir) for b in blocks) + "\n"
