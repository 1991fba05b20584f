"""`rosetta check ... --html FILE`: a real check's page opened in headless Chromium, its first divergence
read back from the DOM the browser built, the screenshot's colours from what it drew; the page reaches
nothing outside itself; the file is written whole or not at all.

Chromium is Debian's package, installed by `make test` (the Makefile's $(CHROMIUM)): where it is
missing these tests fail, never skip."""

import json
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

import rosetta
from foundation import outdir
from parity_tests.ports import SIZES, build, data, save_files
from rosetta import cli
from rosetta.portcheck import html
from rosetta.portcheck.report import Divergence, Hint, Report

SPEC = json.dumps(
    {"sizes": list(SIZES), "activations": ["leaky_relu", "leaky_relu", "linear"], "alpha": 0.01}
)
VOID = {"meta", "br", "hr", "img", "input", "link"}  # HTML elements without an end tag


class Page(HTMLParser):
    """A DOM's elements that have an id (their attributes and text, and the ids in document order) and
    every link in it."""

    def __init__(self, dom):
        super().__init__()
        self.ids, self.order, self.hrefs, self.open = {}, [], [], []
        self.feed(dom)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.hrefs += [attrs["href"]] if "href" in attrs else []
        if tag not in VOID:
            self.open.append(attrs.get("id"))
            if attrs.get("id"):
                self.ids[attrs["id"]] = attrs | {"text": ""}
                self.order.append(attrs["id"])

    def handle_endtag(self, tag):
        if tag not in VOID:
            self.open.pop()

    def handle_data(self, text):
        for name in filter(None, self.open):
            self.ids[name]["text"] += text


def chromium(path, screenshot=None, width=1200):
    """The DOM headless Chromium built from the page at `path` in a width×900 window; with `screenshot`,
    also the screenshot as RGB 0–255."""
    import matplotlib.image

    binary = shutil.which("chromium")
    assert binary, "chromium not found: `make test` installs Debian's package (apt-get install chromium)"
    argv = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    argv += [f"--user-data-dir={path.parent / 'chromium-profile'}", f"--window-size={width},900"]
    argv += ([f"--screenshot={screenshot}"] if screenshot else []) + ["--dump-dom", path.as_uri()]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)
    page = Page(done.stdout)
    return page if screenshot is None else (page, np.rint(matplotlib.image.imread(screenshot)[..., :3] * 255))


def pixels(image, colour):
    """How many pixels have `colour` ("#rrggbb"): the CSS backgrounds the browser drew."""
    rgb = [int(colour[k : k + 2], 16) for k in (1, 3, 5)]
    return int(np.all(image == rgb, axis=-1).sum())


RED, GREEN = "#fde7e7", "#e3f4e4"  # the CSS's backgrounds: a diverging verdict and row; an ok verdict


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The MLP as a .keras archive and as a torch state_dict whose square kernel is not transposed."""
    d = tmp_path_factory.mktemp("models")
    save_files(d, head=None)
    return d


def check(files, *options, capsys):
    argv = [files / "model.keras", files / "transposed.pt", "--spec-b", SPEC, "--input", files / "x.npy"]
    code = cli.main(["check", *map(str, argv), *map(str, options)])
    out, err = capsys.readouterr()
    return code, out, err


def test_chromium_reads_the_reports_first_divergence_from_the_cli_page(files, tmp_path, capsys):
    page_path = tmp_path / "check.html"
    training = ["--target", files / "y.npy", "--loss", "softmax_ce", "--steps", 3, "--lr", 0.1]
    code, out, err = check(files, *training, "--json", "--html", page_path, capsys=capsys)
    report = json.loads(out)
    assert code == 1 and sorted(p.name for p in tmp_path.iterdir()) == ["check.html"], err
    page, image = chromium(page_path, tmp_path / "check.png")
    first = page.ids["first-divergence"]
    attributes = [first[f"data-{key}"] for key in ("stage", "block", "part")]
    assert attributes == [str(report["first"][key]) for key in ("stage", "block", "part")]
    assert first["text"] == "FIRST DIVERGENCE: weights at block 1 (linear): weights transposed"
    assert [h["kind"] for h in report["hints"]] == ["transpose"] and "transpose" in page.ids["hints"]["text"]
    assert page.ids["a-1"]["href"] == "#b-1" and page.ids["b-1"]["href"] == "#a-1"
    assert {href[1:] for href in page.hrefs} <= set(page.ids)  # every link lands on the page
    assert "steps" in page.ids and "http" not in page_path.read_text()
    assert pixels(image, RED) > 20_000 and pixels(image, GREEN) == 0


def test_an_ok_page_has_its_verdict_and_no_first_divergence(tmp_path):
    x, _ = data()
    report = rosetta.check(build("keras"), build("torch"), x)
    html.write(report, tmp_path / "ok.html")
    page, image = chromium(tmp_path / "ok.html", tmp_path / "ok.png")
    assert "first-divergence" not in page.ids and "steps" not in page.ids
    assert page.ids["verdict"]["text"] == "OK: every compared quantity is within tolerance"
    assert page.ids["a-2"]["href"] == "#b-2" and "http" not in html.page(report)
    assert pixels(image, GREEN) > 5_000 and pixels(image, RED) == 0


def test_a_bad_destination_is_refused_before_any_model_is_read(files, tmp_path, capsys):
    for destination, expected in (
        (tmp_path / "missing" / "check.html", "does not exist"),
        (tmp_path / "check.png", "expected a .html or .htm file"),
        (tmp_path, "is a folder"),
    ):
        code, out, err = check(files, "--html", destination, capsys=capsys)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and expected in err, err
    assert list(tmp_path.iterdir()) == []


def test_a_page_that_fails_to_land_leaves_the_old_one_and_no_temporary_file(tmp_path, monkeypatch):
    (tmp_path / "check.html").write_text("the old page")
    report = Report("torch", "keras", "float32", {"forward": 1e-5, "gradient": 1e-5, "trajectory": 1e-4})

    def full_disk(src, dst):
        assert "OK: every compared quantity" in open(src).read()  # written whole, then moved
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(outdir.os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        html.write(report, tmp_path / "check.html")
    assert [p.name for p in tmp_path.iterdir()] == ["check.html"]
    assert (tmp_path / "check.html").read_text() == "the old page"


def test_blocks_run_in_another_order_cross_and_text_is_escaped():
    """B runs its two embeddings in the other order (b_at); a shape mismatch is infinite."""
    report = Report("torch", "flax", "float32", {"forward": 1e-5, "gradient": 1e-5, "trajectory": 1e-4})
    report.blocks = [
        {"a": "Embed(65→8)", "b": "Embed(65→8)", "b_at": 1, "weights": "equal", "pre": 0.0, "post": 0.0},
        {"a": "Embed(4→8) → add(<x>)", "b": "Embed(4→8)", "b_at": 0, "weights": "equal", "pre": 1e-7},
        {"a": "Dense(8→2)", "b": "Linear(8→2)", "b_at": 2, "weights": "equal", "pre": float("inf")},
    ]
    report.divergences = [Divergence("forward", 2, "linear", float("inf"), message="shapes <a> & <b>")]
    report.hints = [Hint("padding", 2, '"same" <b>')]
    text = html.page(report)
    assert '<line x1="0" y1="17" x2="60" y2="51"' in text and '<line x1="0" y1="51" x2="60" y2="17"' in text
    assert "add(&lt;x&gt;)" in text and "shapes &lt;a&gt; &amp; &lt;b&gt;" in text
    assert "<x>" not in text and "<a>" not in text and '"same" <b>' not in text
    assert ">∞</text>" in text and ">0</text>" in text
