"""python -m fer.report on a tiny synthetic study (a CNN and a DNN trained for one epoch,
then --generate runs evaluate, saliency and filters with tiny settings): every section,
every image embedded and decodable, no broken Markdown reference, the synthetic
warning first, missing pieces named with their commands, and one-line errors."""
import base64
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from fer import report, train
from fer.cli_common import run_cli
from test_train_cli import ONE_THREAD_ENV, ROOT, one_thread, read_json, tiny_args  # noqa: F401  (autouse fixture)

SALIENCY_ARGS = "--method vanilla,gradcam --per-class 1 --sanity-images 7 --split test"
FILTERS_ARGS = "--layer conv1 --filters 0-1 --steps 4 --real 20 --top 2"
SECTIONS = ("Answers at a glance", "1. The CNN", "2. The DNN of matched size",
            "3. Confusion matrix and most-confused pairs", "4. Saliency maps", "5. Filter visualisations",
            "Time and speed", "Configuration")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """(folder with cnn/ and dnn/, report.html) of one epoch of each model, reported with --generate."""
    folder = tmp_path_factory.mktemp("study")
    assert train.main(tiny_args(folder, "both", 1, 140)) == 0
    out = folder / "report.html"
    assert report.main([str(folder), "--generate", f"--saliency-args={SALIENCY_ARGS}",
                        f"--filters-args={FILTERS_ARGS}", "--out", str(out)]) == 0
    return folder, out


def embedded_images(page):
    """The decoded bytes of every <img> of an HTML page; fails on any non-data source."""
    sources = re.findall(r'<img [^>]*src="([^"]*)"', page)
    prefix = "data:image/png;base64,"
    assert all(s.startswith(prefix) for s in sources), [s[:40] for s in sources if not s.startswith(prefix)]
    return [base64.b64decode(s[len(prefix):], validate=True) for s in sources]


def produced_pngs(folder):
    """Every PNG that training and the generated steps wrote into the study's run folders."""
    return [png for model in ("cnn", "dnn") for png in sorted((folder / model).rglob("*.png"))]


def test_the_html_holds_every_section_and_every_image_inline(study):
    folder, out = study
    page = out.read_text()
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in page, title
    images = embedded_images(page)
    for data in images:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    pngs = produced_pngs(folder)
    # curves and confusion matrix of both models, 2 saliency maps + deletion curves, 3 filter figures
    assert len(pngs) == 10
    assert sorted(images) == sorted(p.read_bytes() for p in pngs)
    assert not re.search(r'(src|href)="(?!data:)', page) and "<script" not in page and "<link" not in page


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
    assert report.main([str(folder / "cnn"), "--out", str(out)]) == 0
    text = out.with_suffix(".md").read_text()
    assert "## 2. The DNN of matched size" in text
    assert "> **Missing:** No DNN run was given" in text and "`python -m fer.train --model dnn`" in text
    assert "| 2. The DNN of matched size | missing: no DNN run given |" in text


def test_absent_outputs_are_reported_with_the_commands_that_make_them(study, tmp_path):
    folder, _ = study
    bare = tmp_path / "bare-cnn"
    shutil.copytree(folder / "cnn", bare, ignore=shutil.ignore_patterns("eval-*", "saliency", "filters"))
    assert report.main([str(bare)]) == 0
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
        run_cli(report.main, [str(r) for r in runs])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_renderers_escape_what_they_are_given():
    blocks = [report.Heading(1, "a <b> title"), report.Paragraph("run `x<y` now"),
              report.Table(["a|b", "c"], [["1|2", "<i>"]])]
    page = report.render_html(blocks)
    assert "<h1>a &lt;b&gt; title</h1>" in page and "<code>x&lt;y</code>" in page and "&lt;i&gt;" in page
    markdown = report.render_markdown(blocks, Path("unused_files"))
    assert "| a\\|b | c |" in markdown and "| 1\\|2 | <i> |" in markdown


def test_help_imports_no_engine():
    code = ("import sys\nfrom fer import report\n"
            "try:\n    report.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('numba', 'minigrad', 'matplotlib') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ONE_THREAD_ENV,
                            cwd=ROOT, timeout=60)
    assert "--generate" in result.stdout and result.stdout.strip().endswith("[]"), result.stderr
