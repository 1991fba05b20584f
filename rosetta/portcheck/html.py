"""--html: the report as one self-contained page, inline CSS and SVG, no script, no address outside it.

From the top: the verdict (the first divergence, id="first-divergence") and the hints; the two graphs
side by side, each in its own execution order, every block linked to its aligned counterpart; each
block's differences on a log axis against the tolerance; the numbers; the weights' distance after
each optimizer step when steps were run; the notes.
"""

import math
from html import escape
from pathlib import Path

from foundation import outdir
from rosetta.portcheck.report import fmt, verdict

INF = float("inf")
ROW = 34  # px: one block in the graphs panel (the CSS's grid-auto-rows); the connectors' grid
SERIES = (  # (key, label, colour, marker): matplotlib's first colours, as in --plot
    ("weights_rel", "weights", "#9467bd", "diamond"),
    ("pre", "forward: pre-activation", "#1f77b4", "circle"),
    ("post", "forward: activation", "#ff7f0e", "square"),
    ("grad", "gradient", "#2ca02c", "triangle"),
)
# matplotlib's tab10: a block's line in the steps chart
PALETTE = "#1f77b4 #ff7f0e #2ca02c #d62728 #9467bd #8c564b #e377c2 #7f7f7f #bcbd22 #17becf".split()


def page(report):
    title = f"{report.a} vs {report.b}: {'ok' if report.ok else 'diverges'}"
    parts = [
        f"<h1>{escape(report.a)} <small>vs</small> {escape(report.b)}</h1>",
        f"<p class=tol>{escape(tolerances(report))}</p>",
        verdict_section(report),
        graphs(report),
        differences(report),
        numbers(report),
        steps(report),
        notes(report),
    ]
    body = "\n".join(part for part in parts if part)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n<title>{escape(title)}</title>\n'
        f"<style>{CSS}</style></head>\n<body><main>\n{body}\n</main></body></html>\n"
    )


def write(report, path):
    """The page at `path`, whole or not at all (foundation.outdir.replaced)."""
    text = page(report)
    with outdir.replaced(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def tolerances(report):
    tol = report.tolerance
    return f"{report.dtype} tolerances: forward {fmt(tol['forward'])}, trajectory {fmt(tol['trajectory'])}"


# ---- the verdict and the hints ----


def verdict_section(report):
    lines = verdict(report)
    first = report.first
    if first is None:
        head = f'<p class="verdict ok" id="verdict">{escape(lines[0])}</p>'
    else:
        data = {"stage": first.stage, "block": first.block, "part": first.part, "step": first.step}
        attrs = " ".join(f'data-{k}="{"" if v is None else escape(str(v))}"' for k, v in data.items())
        head = f'<p class="verdict bad" id="first-divergence" {attrs}>{escape(lines[0])}</p>'
    items = [
        f'<li data-kind="{escape(h.kind)}"><code>{escape(h.kind)}</code>'
        + ("" if h.block is None else f' <a href="#a-{h.block}">block {h.block}</a>')
        + f": {escape(h.message)}</li>"
        for h in report.hints
    ]
    hints = f'<ul id="hints">{"".join(items)}</ul>' if items else ""
    return f"<section>{head}{hints}</section>"


def diverging(report):
    return {d.block for d in report.divergences if d.block is not None}


def first_block(report):
    first = report.first
    return None if first is None or first.stage == "loss" else first.block


# ---- the two graphs ----


def graphs(report):
    """A's blocks in A's order, B's in B's (`b_at`), a line from each block to its counterpart. Blocks
    that could not be aligned (a structural mismatch in their number) are shown unlinked."""
    n = len(report.blocks)
    if not n:
        return ""
    linked = all("b_at" in row for row in report.blocks)
    at = [row["b_at"] if linked else i for i, row in enumerate(report.blocks)]
    by_position = sorted(range(n), key=lambda i: at[i])
    bad, first = diverging(report), first_block(report)
    left = "".join(node(report, "a", i, linked, bad, first) for i in range(n))
    right = "".join(node(report, "b", i, linked, bad, first) for i in by_position)
    lines = "".join(
        f'<line x1="0" y1="{ROW * i + ROW // 2}" x2="60" y2="{ROW * at[i] + ROW // 2}" '
        f'class="{"bad" if i in bad else "ok"}"/>'
        for i in range(n)
        if linked
    )
    svg = f'<svg class="links" width="60" height="{ROW * n}">{lines}</svg>'
    unlinked = "" if linked else "<p class=note>The blocks could not be aligned: shown unlinked.</p>"
    heads = f"<h3>A: {escape(report.a)}</h3><span></span><h3>B: {escape(report.b)}</h3>"
    return (
        f'<section><h2>The two graphs</h2>{unlinked}<div class="graphs">{heads}'
        f'<div class="column">{left}</div>{svg}<div class="column">{right}</div></div></section>'
    )


def node(report, side, i, linked, bad, first):
    row = report.blocks[i]
    other = "b" if side == "a" else "a"
    cls = "node" + (" bad" if i in bad else "") + (" first" if i == first else "")
    href = f' href="#{other}-{i}"' if linked else ""
    text = escape(row[side])
    return f'<a class="{cls}" id="{side}-{i}"{href} title="{text}"><b>{i}</b> {text}</a>'


# ---- charts: a log axis ----


class LogAxis:
    """Decades lo..hi onto pixels bottom..top; exact zeros get a row below them, infinities (a
    structural mismatch) one above. `values` hold a tolerance: never only zeros."""

    BAND = 22  # px between the row of 0 (or ∞) and the decades

    def __init__(self, values, top, bottom):
        positive = [v for v in values if 0 < v < INF]
        self.lo = math.floor(math.log10(min(positive)))
        self.hi = math.floor(math.log10(max(positive))) + 1  # the largest value below the top
        self.zero, self.inf = 0 in values, INF in values
        self.top, self.bottom = top, bottom

    def y(self, value):
        if value == INF:
            return self.top
        if value <= 0:
            return self.bottom
        low, high = self.bottom - self.BAND * self.zero, self.top + self.BAND * self.inf
        return low - (low - high) * (math.log10(value) - self.lo) / (self.hi - self.lo)

    def ticks(self):
        every = max(1, math.ceil((self.hi - self.lo) / 8))
        decades = [(10.0**k, f"1e{k}") for k in range(self.lo, self.hi + 1, every)]
        return [(0, "0")] * self.zero + decades + [(INF, "∞")] * self.inf

    def grid(self, left, right):
        return "".join(
            f'<line x1="{left}" x2="{right}" y1="{self.y(v):.1f}" y2="{self.y(v):.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{self.y(v) + 4:.1f}" class="tick" text-anchor="end">{label}</text>'
            for v, label in self.ticks()
        )


def marker(shape, x, y, colour, title=None, href=None):
    """A circle, square, triangle or diamond about 9 px wide at (x, y), linked, its value a tooltip."""
    tag, geometry = {
        "circle": ("circle", f'cx="{x:.1f}" cy="{y:.1f}" r="4.5"'),
        "square": ("rect", f'x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8"'),
        "triangle": ("path", f'd="M{x:.1f},{y - 5:.1f} l5,9 h-10 z"'),
        "diamond": ("path", f'd="M{x:.1f},{y - 5:.1f} l5,5 l-5,5 l-5,-5 z"'),
    }[shape]
    tip = f"<title>{escape(title)}</title>" if title else ""
    mark = f'<{tag} {geometry} fill="{colour}">{tip}</{tag}>'
    return f'<a href="{href}">{mark}</a>' if href else mark


def key(shape, colour, label):
    """A legend entry: the marker, then its label."""
    return f'<span class="key"><svg width="12" height="12">{marker(shape, 6, 6, colour)}</svg>{label}</span>'


WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 940, 300, 56, 16, 20, 40  # px: a chart and its margins


def chart(axis, inner, xlabel):
    """An SVG chart: the axis's grid and ticks, `inner` drawn over it, a label under the x axis."""
    return (
        f'<svg class="chart" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}">'
        f"{axis.grid(LEFT, WIDTH - RIGHT)}{inner}"
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 4}" class="axis" text-anchor="middle">'
        f"{xlabel}</text>"
        f'<text x="14" y="{(TOP + HEIGHT - BOTTOM) / 2}" class="axis" text-anchor="middle" '
        f'transform="rotate(-90 14 {(TOP + HEIGHT - BOTTOM) / 2})">max |a − b| / max |b|</text></svg>'
    )


def dashed(x0, x1, y, cls):
    return f'<line x1="{x0:.1f}" x2="{x1:.1f}" y1="{y:.1f}" y2="{y:.1f}" class="{cls}"/>'


def xtick(x, label, href=None):
    text = f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" class="tick" text-anchor="middle">{label}</text>'
    return f'<a href="{href}">{text}</a>' if href else text


# ---- each block's differences ----


def differences(report):
    """Per block: its weights', pre-activation's, activation's and gradient's differences as markers;
    its tolerance as a dashed line across its column (the gradients' in green where it differs); the
    block of the first divergence shaded, unless that is a step."""
    rows, forward = report.blocks, report.tolerance["forward"]
    tols = [row.get("tolerance", forward) for row in rows]
    values = [row[k] for row in rows for k, *_ in SERIES if row.get(k) is not None]
    if not values:
        return ""
    grad_tol = report.tolerance["gradient"]
    grads = any("grad" in row for row in rows)
    axis = LogAxis(values + tols + [grad_tol] * grads, TOP, HEIGHT - BOTTOM)
    width = (WIDTH - LEFT - RIGHT) / len(rows)
    every = math.ceil(len(rows) / 30)
    inner, first = [], first_block(report)
    if first is not None and report.first.stage != "step":
        inner.append(
            f'<rect x="{LEFT + width * first:.1f}" y="{TOP}" width="{width:.1f}" '
            f'height="{HEIGHT - BOTTOM - TOP}" class="shade"/>'
            f'<text x="{LEFT + width * first + 4:.1f}" y="{TOP - 6}" class="marked">first divergence</text>'
        )
    for i, (row, tol) in enumerate(zip(rows, tols)):
        x0 = LEFT + width * i
        inner.append(dashed(x0, x0 + width, axis.y(tol), "tolerance"))
        if "grad" in row and grad_tol != tol:
            inner.append(dashed(x0, x0 + width, axis.y(grad_tol), "tolerance grad"))
        for k, (key_, label, colour, shape) in enumerate(SERIES):
            if row.get(key_) is not None:
                x = x0 + width / 2 + (k - 1.5) * min(9, width / 5)
                title = f"block {i} {label}: {fmt(row[key_])} (tolerance {fmt(tol)})"
                inner.append(marker(shape, x, axis.y(row[key_]), colour, title, f"#a-{i}"))
        if i % every == 0:
            inner.append(xtick(x0 + width / 2, i, f"#a-{i}"))
    keys = [key(shape, colour, label) for k, label, colour, shape in SERIES if any(k in row for row in rows)]
    loosened = " per block (where loosened: see the notes)" if set(tols) != {forward} else ""
    keys.append(f'<span class="key"><i class="dash"></i>tolerance{loosened}</span>')
    if any("grad" in row and grad_tol != tol for row, tol in zip(rows, tols)):
        keys.append(f'<span class="key"><i class="dash grad"></i>gradient tolerance {fmt(grad_tol)}</span>')
    return (
        f'<section id="differences"><h2>Differences per block</h2><p class="legend">{"".join(keys)}</p>'
        f"{chart(axis, ''.join(inner), 'block')}</section>"
    )


# ---- the numbers ----

COLUMNS = (("pre_abs", "pre abs"), ("pre", "pre rel"), ("post_abs", "act abs"), ("post", "act rel"))


def numbers(report):
    """The table `print(report)` shows; a relative difference over its tolerance in red."""
    if not any("weights" in row for row in report.blocks):  # a structural mismatch: nothing compared
        return ""
    heads = ["block", "weights", *(label for _, label in COLUMNS), "grad rel", "A", "B"]
    first, bad = first_block(report), diverging(report)
    rows = []
    for i, row in enumerate(report.blocks):
        tol = row.get("tolerance", report.tolerance["forward"])
        limits = {"pre": tol, "post": tol, "grad": report.tolerance["gradient"]}
        cells = [f'<a href="#a-{i}">{i}</a>', escape(row.get("weights") or "")]
        cells += [number(row.get(k), limits.get(k)) for k in [k for k, _ in COLUMNS] + ["grad"]]
        cells += [escape(row["a"]), escape(row["b"])]
        cls = "first" if i == first else "bad" if i in bad else ""
        rows.append(f'<tr class="{cls}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in heads)
    return (
        f'<section><h2>The numbers</h2><table class="numbers"><tr>{head}</tr>{"".join(rows)}</table>'
        f"{loss(report)}</section>"
    )


def number(value, limit):
    over = limit is not None and value is not None and value > limit
    return f'<span class="over">{fmt(value)}</span>' if over else fmt(value)


def loss(report):
    if not report.loss:
        return ""
    a, b, rel = report.loss["a"], report.loss["b"], report.loss["rel"]
    return f"<p>loss {a:.10g} vs {b:.10g}: rel {number(rel, report.tolerance['gradient'])}</p>"


# ---- the optimizer steps ----


def steps(report):
    """After each step, every block's weights' relative difference (one line per block, the first
    ones wider, so that lines on top of each other all show) against the trajectory tolerance; the
    step of the first divergence marked."""
    if not report.steps:
        return ""
    k, tol = len(report.steps), report.tolerance["trajectory"]
    axis = LogAxis([v for step in report.steps for v in step] + [tol], TOP, HEIGHT - BOTTOM)
    x = lambda s: LEFT + (WIDTH - LEFT - RIGHT) * ((s - 1) / (k - 1) if k > 1 else 0.5)  # noqa: E731
    inner = [dashed(LEFT, WIDTH - RIGHT, axis.y(tol), "tolerance")]
    first = report.first
    if first is not None and first.stage == "step":
        at = x(first.step)
        inner.append(
            f'<line x1="{at:.1f}" x2="{at:.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" class="mark"/>'
            f'<text x="{at + 4:.1f}" y="{TOP - 6}" class="marked">first divergence</text>'
        )
    keys = []
    for i, values in enumerate(zip(*report.steps)):
        colour = PALETTE[i % len(PALETTE)]
        points = " ".join(f"{x(s):.1f},{axis.y(v):.1f}" for s, v in enumerate(values, start=1))
        width = 4.5 - 3 * i / max(len(report.steps[0]) - 1, 1)  # px: from 4.5 (block 0) to 1.5
        inner.append(f'<polyline points="{points}" stroke="{colour}" stroke-width="{width}" class="curve"/>')
        if k <= 60:
            inner += [
                marker("circle", x(s), axis.y(v), colour, f"block {i} after step {s}: {fmt(v)}")
                for s, v in enumerate(values, start=1)
            ]
        keys.append(f'<a class="key" href="#a-{i}"><i style="background:{colour}"></i>block {i}</a>')
    every = math.ceil(k / 20)
    inner += [xtick(x(s), s) for s in range(1, k + 1) if (s - 1) % every == 0]
    keys.append(f'<span class="key"><i class="dash"></i>trajectory tolerance {fmt(tol)}</span>')
    return (
        f'<section id="steps"><h2>The weights after each step</h2><p class="legend">{"".join(keys)}</p>'
        f"{chart(axis, ''.join(inner), 'optimizer step')}</section>"
    )


def notes(report):
    items = "".join(f"<li>{escape(note)}</li>" for note in report.notes)
    return f'<section><h2>Notes</h2><ul class="notes">{items}</ul></section>' if items else ""


CSS = """
body { font: 14px/1.45 system-ui, sans-serif; color: #222; background: #fafafa; margin: 0; }
main { max-width: 940px; margin: 0 auto; padding: 12px 20px 40px; }
h1 { font-size: 22px; margin: 8px 0 0; } h1 small { color: #777; font-weight: normal; }
h2 { font-size: 16px; margin: 22px 0 8px; border-bottom: 1px solid #ddd; }
h3 { font-size: 14px; margin: 0 0 4px; }
.tol, .note { color: #666; margin: 2px 0 10px; }
.verdict { font: 600 15px/1.4 ui-monospace, monospace; padding: 10px 14px; border-radius: 6px; margin: 0; }
.verdict.ok { background: #e3f4e4; border: 1px solid #7cc47f; color: #1b5e20; }
.verdict.bad { background: #fde7e7; border: 1px solid #e57373; color: #b71c1c; }
#hints { margin: 8px 0 0; padding: 8px 14px 8px 32px; background: #fff8e1; border: 1px solid #ffd54f;
  border-radius: 6px; }
#hints li { margin: 3px 0; } code { background: #f0e6c0; padding: 0 4px; border-radius: 3px; }
.graphs { display: grid; grid-template-columns: 1fr 60px 1fr; }
.column { display: grid; grid-auto-rows: 34px; align-items: center; min-width: 0; }
.node { height: 28px; padding: 4px 8px; border: 1px solid #bbb; border-radius: 5px; background: #fff;
  color: #222; text-decoration: none; white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
  box-sizing: border-box; font: 12px/18px ui-monospace, monospace; }
.node b { color: #888; margin-right: 4px; } .node:target { outline: 2px solid #1f77b4; }
.node.bad { border-color: #e57373; background: #fff3f3; }
.node.first { border: 2px solid #c62828; background: #fde7e7; }
.links line { stroke-width: 1.5; } .links .ok { stroke: #9e9e9e; } .links .bad { stroke: #e53935; }
.chart { display: block; background: #fff; border: 1px solid #ddd; max-width: 100%; height: auto; }
.grid { stroke: #eee; } .tick, .axis { font: 11px system-ui, sans-serif; fill: #555; }
.tolerance { stroke: #555; stroke-dasharray: 5 4; } .tolerance.grad { stroke: #2ca02c; }
.shade { fill: #fde0e0; } .mark { stroke: #e53935; stroke-width: 2; }
.marked { font: 11px system-ui, sans-serif; fill: #c62828; }
.curve { fill: none; stroke-linejoin: round; }
.legend { margin: 0 0 6px; color: #444; font-size: 12px; }
.key { margin-right: 14px; color: inherit; text-decoration: none; white-space: nowrap; }
.key svg { vertical-align: -1px; margin-right: 4px; }
.key i { display: inline-block; width: 14px; height: 3px; margin: 0 4px 3px 0; }
.key i.dash { border-top: 2px dashed #555; height: 0; } .key i.dash.grad { border-color: #2ca02c; }
.numbers { border-collapse: collapse; font: 12px ui-monospace, monospace; background: #fff; width: 100%; }
.numbers td, .numbers th { border: 1px solid #e0e0e0; padding: 3px 6px; text-align: right;
  white-space: nowrap; }
.numbers td:nth-last-child(-n+2), .numbers th:nth-last-child(-n+2) { text-align: left; white-space: normal; }
.numbers tr.bad { background: #fff3f3; } .numbers tr.first { background: #fde7e7; font-weight: 600; }
.over { color: #c62828; }
.notes { color: #555; }
"""
