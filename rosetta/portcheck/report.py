"""The report of a check: ok, the first divergence, the hints, the per-block table and JSON."""

import math
from dataclasses import asdict, dataclass, field

STAGES = ("structure", "weights", "forward", "loss", "gradient", "step")


@dataclass(frozen=True)
class Divergence:
    stage: str  # one of STAGES
    block: int | None  # 0-based; None for the loss
    part: str | None  # "linear": the parametrized layer; "activation": what follows it
    value: float  # the relative difference (inf for a structural mismatch)
    step: int | None = None  # "step": the 1-based optimizer step
    message: str = ""


@dataclass(frozen=True)
class Hint:
    kind: str  # a stable code, documented in docs/porting.md
    block: int | None
    message: str


@dataclass
class Report:
    a: str  # the frameworks, e.g. "torch", "keras-jax"
    b: str
    dtype: str  # the dtype whose tolerances were used
    tolerance: dict  # {"forward": ..., "trajectory": ...}
    blocks: list = field(default_factory=list)  # one dict per aligned block (see run.py)
    loss: dict | None = None  # {"a", "b", "rel"}
    steps: list = field(default_factory=list)  # per step: [rel difference of each block's weights]
    divergences: list = field(default_factory=list)  # every Divergence, in the order checked
    hints: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    @property
    def ok(self):
        return not self.divergences

    @property
    def first(self):
        return self.divergences[0] if self.divergences else None

    def to_dict(self):
        """Everything, JSON-serialisable: a structural mismatch's infinite difference becomes null."""
        doc = asdict(self)
        doc.update(ok=self.ok, first=asdict(self.first) if self.first else None)
        return finite(doc)

    def __str__(self):
        return "\n".join(table(self) + verdict(self))


def finite(doc):
    if isinstance(doc, dict):
        return {key: finite(value) for key, value in doc.items()}
    if isinstance(doc, list | tuple):
        return [finite(value) for value in doc]
    return None if isinstance(doc, float) and not math.isfinite(doc) else doc


def fmt(value):
    return "" if value is None else "inf" if value == float("inf") else f"{value:.1e}"


def table(report):
    rows = [
        f"{report.a} vs {report.b}, {report.dtype} tolerances: forward {fmt(report.tolerance['forward'])}, "
        f"trajectory {fmt(report.tolerance['trajectory'])}"
    ]
    rows += [f"note: {note}" for note in report.notes]
    heads = " ".join(f"{h:>8}" for h in ("pre abs", "pre rel", "act abs", "act rel", "grad rel"))
    rows.append(f"  {'block':<5} {'weights':<10} {heads}  layers")
    first = report.first
    for i, row in enumerate(report.blocks):
        mark = ">" if first and first.block == i and first.stage != "loss" else " "
        nums = [fmt(row.get(k)) for k in ("pre_abs", "pre", "post_abs", "post", "grad")]
        rows.append(
            f"{mark} {i:<5} {row.get('weights') or '':<10} "
            + " ".join(f"{n:>8}" for n in nums)
            + f"  {row['a']}  |  {row['b']}"
        )
    if report.loss:
        rows.append(
            f"  loss {report.loss['a']:.10g} vs {report.loss['b']:.10g}: rel {fmt(report.loss['rel'])}"
        )
    if report.steps:
        worst = [max(step) for step in report.steps]
        rows.append("  steps: worst weight rel per step " + " ".join(fmt(w) for w in worst))
    return rows


def verdict(report):
    if report.ok:
        rows = ["OK: every compared quantity is within tolerance"]
    else:
        d = report.first
        where = "the loss" if d.block is None else f"block {d.block} ({d.part})"
        at = f" after step {d.step}" if d.step else ""
        rows = [f"FIRST DIVERGENCE: {d.stage} at {where}{at}: {d.message or fmt(d.value)}"]
    rows += [
        f"hint [{h.kind}]{'' if h.block is None else f' block {h.block}'}: {h.message}" for h in report.hints
    ]
    return rows
