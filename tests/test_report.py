"""python -m fer.report on a tiny synthetic study (a CNN and a DNN trained for one epoch,
then --generate runs evaluate, saliency and filters with tiny settings): every section,
every image embedded, decodable and no smaller than drawn, a page small enough to mail,
no broken Markdown reference, the synthetic warning first, missing pieces named with
their commands, and one-line errors."""
import base64
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fer import train
from fer.cli.common import run_cli
from fer.report import render
from fer.report.__main__ import main as report_main
from fer.report.document import Figure, Heading, Paragraph, Table

pytestmark = pytest.mark.usefixtures("one_thread")
MAIL_LIMIT = 3 * 1024 * 1024
SALIENCY_ARGS = "--method vanilla,gradcam --per-class 1 --sanity-images 7 --split test"
FILTERS_ARGS = "--layer conv1 --filters 0-1 --steps 4 --real 20 --top 2"
SECTIONS = ("Answers at a glance", "1. The CNN", "2. The DNN of matched size",
            "3. Confusion matrix and most-confused pairs", "4. Saliency maps", "5. Filter visualisations",
            "Time and speed", "Configuration")


@pytest.fixture(scope="module")
def study(tmp_path_factory, tiny_args):
    """(folder with cnn/ and dnn/, report.html) of one epoch of each model, reported with --generate."""
    folder = tmp_path_factory.mktemp("study")
    assert train.main(tiny_args(folder, "both", 1, 140)) == 0
    out = folder / "report.html"
    assert report_main([str(folder), "--generate", f"--saliency-args={SALIENCY_ARGS}",
                        f"--filters-args={FILTERS_ARGS}", "--out", str(out)]) == 0
    return folder, out


def read_json(path):
    return json.loads(Path(path).read_text())


def embedded_images(page):
    """The decoded images of every <img> of an HTML page; fails on any non-data source."""
    sources = re.findall(r'<img [^>]*src="([^"]*)"', page)
    found = [re.fullmatch(r"data:image/(png|jpeg);base64,(.*)", s, re.DOTALL) for s in sources]
    assert all(found), [s[:40] for s, f in zip(sources, found) if not f]
    images = []
    for match in found:
        image = Image.open(io.BytesIO(base64.b64decode(match[2], validate=True)))
        image.load()
        assert image.format.lower() == match[1]
        images.append(image)
    return images


def produced_pngs(folder):
    """Every PNG that training and the generated steps wrote into the study's run folders."""
    return [png for model in ("cnn", "dnn") for png in sorted((folder / model).rglob("*.png"))]


def shown_size(png):
    """(width, height) the page shows a figure at: as drawn, or scaled to render.MAX_WIDTH."""
    with Image.open(png) as image:
        width, height = image.size
    return (width, height) if width <= render.MAX_WIDTH else (render.MAX_WIDTH, round(height * render.MAX_WIDTH / width))


def test_the_html_holds_every_section_and_every_image_inline(study):
    folder, out = study
    page = out.read_text()
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in page, title
    pngs = produced_pngs(folder)
    # curves, health and confusion matrix of both models, 2 saliency maps + deletion curves, 3 filter figures
    assert len(pngs) == 12
    # each figure once, at the size it was drawn: none shrunk below what its labels were drawn for
    assert sorted(image.size for image in embedded_images(page)) == sorted(shown_size(p) for p in pngs)
    assert not re.search(r'(src|href)="(?!data:)', page) and "<script" not in page and "<link" not in page


def test_the_page_is_small_enough_to_mail(study, tmp_path, tiny_args):
    """Under 3 MB with the saliency step's default number of images (3 of each class, all
    five methods), its grids embedded as JPEGs: here about 1.2 MB, where the run's PNGs as
    they are would take about 6 MB."""
    _, out = study
    assert out.stat().st_size < MAIL_LIMIT
    folder = tmp_path / "study"
    assert train.main(tiny_args(folder, "cnn", 1, 140)) == 0
    page = folder / "report.html"
    assert report_main([str(folder), "--generate", "--saliency-args=--samples 2 --steps 2 --sanity-images 7",
                        f"--filters-args={FILTERS_ARGS}", "--out", str(page)]) == 0
    grids = sorted((folder / "saliency").glob("saliency-*.png"))
    assert len(grids) == 5
    assert page.stat().st_size < MAIL_LIMIT
    embedded = embedded_images(page.read_text())
    assert sum(image.format == "JPEG" for image in embedded) >= len(grids)   # the photo-like grids


def test_figures_are_embedded_as_photos_or_drawings(tmp_path):
    """A noisy grid of faces becomes a JPEG and a drawing a PNG of at most 256 colours,
    grey ones in grey, both at their own size; a figure wider than the page is scaled down."""
    rng = np.random.default_rng(0)

    def smooth(height, width, channels):   # a photo-like picture: smooth shapes, a little grain
        field = Image.fromarray((rng.random((height // 20, width // 20, channels)) * 255).astype(np.uint8).squeeze())
        picture = np.asarray(field.resize((width, height), Image.Resampling.BICUBIC), np.float32)
        return np.clip(picture + rng.normal(0, 4, picture.shape), 0, 255).astype(np.uint8)

    photo = smooth(600, 900, 3)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    drawing = np.full((400, 900, 3), 255, np.uint8)
    drawing[100:110, :] = (31, 119, 180)
    drawing[:, 450:452] = 0
    Image.fromarray(drawing).save(tmp_path / "drawing.png")
    grey = np.repeat(smooth(500, 700, 1)[..., None], 3, axis=2)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    Image.fromarray(np.full((300, 3 * render.MAX_WIDTH, 3), 255, np.uint8)).save(tmp_path / "wide.png")

    def embedded(name):
        kind, data = render.embedded_image(tmp_path / name)
        return kind, Image.open(io.BytesIO(data)), len(data)

    kind, image, size = embedded("photo.png")
    assert kind == "image/jpeg" and image.size == (900, 600) and size < (tmp_path / "photo.png").stat().st_size / 3
    assert np.abs(np.asarray(image, np.float32) - photo).mean() < 5                  # and close to it
    kind, image, size = embedded("drawing.png")
    assert kind == "image/png" and image.mode == "P" and image.size == (900, 400)
    assert np.array_equal(np.asarray(image.convert("RGB")), drawing)          # lossless for few colours
    kind, image, _ = embedded("grey.png")
    assert kind == "image/jpeg" and image.mode == "L"
    kind, image, _ = embedded("wide.png")
    assert image.size == (render.MAX_WIDTH, 100)


def test_the_markdown_has_the_same_content_and_no_broken_reference(study):
    folder, out = study
    markdown = out.with_suffix(".md")
    text = markdown.read_text()
    for title in SECTIONS:
        assert f"\n## {title}\n" in text, title
    targets = re.findall(r"\]\(([^)]+)\)", text)
    assert len(targets) == len(produced_pngs(folder))
    for target in targets:
        assert (markdown.parent / target).is_file(), target
        assert target.startswith("report_files/")


def test_a_synthetic_study_says_so_before_anything_else(study):
    _, out = study
    head = out.with_suffix(".md").read_text().splitlines()[:3]
    assert any("NOT FER2013" in line for line in head)
    page = out.read_text()
    assert page.index("NOT FER2013") < page.index("<h2>")


def test_the_numbers_come_from_the_run_files(study):
    folder, out = study
    text = out.with_suffix(".md").read_text()
    metrics = read_json(folder / "cnn" / "metrics.json")
    assert f"{metrics['test_acc']:.1%} test accuracy" in text
    evaluation = read_json(folder / "dnn" / "eval-test.json")
    top = evaluation["most_confused"][0]["words"]
    assert top[0].upper() + top[1:] in text
    sanity = read_json(folder / "cnn" / "saliency" / "sanity.json")
    assert f"{sanity['vanilla']['randomisation']['correlation']:.3f}" in text
    ratios = read_json(folder / "cnn" / "filters" / "filters.json")["conv1"]["receptive_field"]
    assert f"each unit sees {ratios[0]}x{ratios[1]} pixels" in text
    assert "Missing" not in text  # --generate made everything


def test_a_cnn_alone_reports_the_dnn_as_missing(study, tmp_path):
    folder, _ = study
    out = tmp_path / "cnn-only.html"
    assert report_main([str(folder / "cnn"), "--out", str(out)]) == 0
    text = out.with_suffix(".md").read_text()
    assert "## 2. The DNN of matched size" in text
    assert "> **Missing:** No DNN run was given" in text and "`python -m fer.train --model dnn`" in text
    assert "| 2. The DNN of matched size | missing: no DNN run given |" in text


def test_absent_outputs_are_reported_with_the_commands_that_make_them(study, tmp_path):
    folder, _ = study
    bare = tmp_path / "bare-cnn"
    shutil.copytree(folder / "cnn", bare, ignore=shutil.ignore_patterns("eval-*", "saliency", "filters"))
    assert report_main([str(bare)]) == 0
    text = (bare / "report.md").read_text()
    for command in (f"python -m fer.evaluate {bare}", f"python -m fer.saliency {bare} --sanity",
                    f"python -m fer.filters {bare}"):
        assert f"`{command}`" in text, command
    assert (bare / "report.html").is_file()


@pytest.mark.parametrize("case", ["no such folder", "folder without runs", "two CNNs"])
def test_bad_run_arguments_give_one_line_and_exit_2(study, tmp_path, capsys, case):
    folder, _ = study
    runs = {"no such folder": [tmp_path / "nowhere"], "folder without runs": [tmp_path],
            "two CNNs": [folder / "cnn", folder / "cnn"]}[case]
    with pytest.raises(SystemExit) as exit_info:
        run_cli(report_main, [str(r) for r in runs])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_renderers_escape_what_they_are_given():
    blocks = [Heading(1, "a <b> title"), Paragraph("run `x<y` now"), Table(["a|b", "c"], [["1|2", "<i>"]])]
    page = render.render_html(blocks)
    assert "<h1>a &lt;b&gt; title</h1>" in page and "<code>x&lt;y</code>" in page and "&lt;i&gt;" in page
    markdown = render.render_markdown(blocks, Path("unused_files"))
    assert "| a\\|b | c |" in markdown and "| 1\\|2 | <i> |" in markdown


def test_a_figure_is_copied_for_the_markdown_and_inlined_in_the_html(tmp_path):
    png = tmp_path / "plot.png"
    Image.fromarray(np.full((20, 30, 3), 200, np.uint8)).save(png)
    blocks = [Heading(1, "t"), Figure(png, "cnn-plot.png", "a <caption>")]
    markdown = render.render_markdown(blocks, tmp_path / "out_files")
    assert "![a <caption>](out_files/cnn-plot.png)" in markdown
    assert (tmp_path / "out_files" / "cnn-plot.png").read_bytes() == png.read_bytes()
    page = render.render_html(blocks)
    assert 'alt="a &lt;caption&gt;"' in page and [image.size for image in embedded_images(page)] == [(30, 20)]


def test_help_imports_no_engine(imported_after):
    code = ("from fer.report.__main__ import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass")
    assert imported_after(code) == "[]"
