"""`rosetta study`'s pages opened in headless Chromium at 1280 px: the four code columns, their sections
side by side at the same height, the parity figures of the run, and no horizontal overflow, all read back
from the DOM the browser built (a small script, added to a copy of the page, writes what it measured).

Chromium is Debian's package, installed by `make test`: where it is missing these tests fail, never skip."""

import contextlib
import io
import json
import re

import pytest

from foundation import tolerances
from parity_tests.test_check_html import chromium
from rosetta import cli, plotdata, study

FAMILIES = ("xor", "regression")
MEASURE = """<script>
const root = document.documentElement, cells = [...document.querySelectorAll(".cell")];
const tops = {};
for (const cell of cells) {
  const section = cell.id.split("-").pop();
  (tops[section] = tops[section] || new Set()).add(cell.getBoundingClientRect().top);
}
const pres = [...document.querySelectorAll("pre.code")];
const out = document.createElement("div");
out.id = "measured";
out.dataset.overflow = root.scrollWidth - root.clientWidth;
out.dataset.misaligned = Object.keys(tops).filter(k => tops[k].size !== 1).join(",");
out.dataset.scrolling = pres.filter(p => p.scrollWidth > p.clientWidth).length;
out.dataset.widest = Math.max(...pres.map(p => p.getBoundingClientRect().right));
out.dataset.width = root.clientWidth;
document.body.appendChild(out);
addEventListener("load", () => {  // the plots decoded: each image's name and its drawn size
  out.dataset.images = [...document.querySelectorAll(".plots img")].map(i => `${i.alt}:${i.naturalWidth}`);
});
</script></body>"""


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """`rosetta study xor regression --json`: the two families' pages and index, and each page opened with
    the measuring script added."""
    out = tmp_path_factory.mktemp("study")
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        code = cli.main(["study", *FAMILIES, "--json", "--out", str(out)])
    doc = json.loads(printed.getvalue())
    assert (
        code == 0 and doc["ok"] and doc["pages"] == [f"{family}.html" for family in FAMILIES] + ["index.html"]
    )
    measured = doc["families"]
    opened = {}
    for family in FAMILIES:
        copy = out / f"measured-{family}.html"
        copy.write_text((out / f"{family}.html").read_text().replace("</body>", MEASURE))
        opened[family] = chromium(copy, width=1280)
    return out, measured, opened


@pytest.mark.parametrize("family", FAMILIES)
def test_four_columns_of_code_with_the_frameworks_names(pages, family):
    page = pages[2][family]
    heads = [name for name in page.order if name.startswith("head-")]
    assert heads == [f"head-{fw}" for fw in study.COLUMNS]
    assert [page.ids[f"name-{fw}"]["text"] for fw in study.COLUMNS] == ["NumPy", "JAX", "PyTorch", "Keras 3"]
    for section in ("model", "loss", "gradient", "update", "loop"):
        for fw in study.COLUMNS:
            assert page.ids[f"code-{fw}-{section}"]["text"].strip(), (fw, section)
    assert "nn.Module" in page.ids["code-torch-model"]["text"]
    assert "keras.Sequential" in page.ids["code-keras-model"]["text"]
    assert "jax.value_and_grad" in page.ids["code-jax-gradient"]["text"]
    assert ".T @" in page.ids["code-numpy-gradient"]["text"]  # the backward pass by hand


@pytest.mark.parametrize("family", FAMILIES)
def test_the_parity_figures_are_the_runs_and_within_the_tolerances(pages, family):
    _, measured, opened = pages
    page = opened[family]
    for fw in study.COLUMNS:
        for check in study.CHECKS:
            cell = page.ids[f"fig-{fw}-{check.replace(' ', '-')}"]
            value = float(cell["data-value"])
            assert value == pytest.approx(measured[family][fw][check], rel=1e-3, abs=1e-300)
            assert value <= study.limit(check, "float64") == float(cell["data-limit"])
    assert study.limit("grads", "float64") == tolerances.FORWARD["float64"]


@pytest.mark.parametrize("family", FAMILIES)
def test_no_horizontal_overflow_at_1280_and_sections_aligned(pages, family):
    """The page is as wide as the window; long lines scroll inside their own column; each section's four
    cells start at the same height."""
    measured = pages[2][family].ids["measured"]
    assert measured["data-overflow"] == "0"
    assert float(measured["data-widest"]) <= float(measured["data-width"])
    assert int(measured["data-scrolling"]) > 0  # there are lines longer than a column: they scroll there
    assert measured["data-misaligned"] == ""


@pytest.mark.parametrize("family", FAMILIES)
def test_the_plots_of_the_four_runs_are_drawn_in_the_page(pages, family):
    """rosetta compare's plots for the family's task, inlined (no file beside the page) and decoded by the
    browser: the loss curves and the task's own picture (xor: the decision boundaries)."""
    images = pages[2][family].ids["measured"]["data-images"].split(",")
    names = plotdata.file_names(study.task_of(family))
    assert [image.split(":")[0] for image in images] == names and len(names) == 2
    assert all(int(image.split(":")[1]) > 300 for image in images)
    assert not list(pages[0].glob("*.png"))


def test_the_notes_link_the_divergence_rows(pages):
    out, _, opened = pages
    torch_model = opened["xor"].ids["code-torch-model"]["text"]
    assert "dense-layout/torch" in torch_model and "transpose" in torch_model
    html = (out / "xor.html").read_text()
    link = re.search(r'href="([^"#]*divergences\.md)#(dense-layouttorch--[^"]*)"', html)
    assert link and (out / link.group(1)).resolve() == study.DOCS  # the row's heading in docs/divergences.md
    index = (out / "index.html").read_text()
    assert all(f'href="{family}.html"' in index for family in FAMILIES)
    assert "http" not in html.replace("http-equiv", "")  # no fetch from the network


def test_the_cli_refuses_an_unknown_family_and_a_file_as_out(tmp_path, capsys):
    assert cli.main(["study", "lenet", "--out", str(tmp_path)]) == 2
    assert "xor" in capsys.readouterr().err  # the error names the valid families
    (tmp_path / "file").write_text("")
    assert cli.main(["study", "xor", "--out", str(tmp_path / "file")]) == 2
    assert "not a folder" in capsys.readouterr().err
