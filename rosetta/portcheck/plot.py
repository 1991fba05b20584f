"""--plot: the relative difference of every block on a log axis, with the tolerance as a line."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

FLOOR = 1e-18  # an exact match drawn at the bottom of the log axis


def write(report, path):
    fig, ax = plt.subplots(figsize=(7, 4))
    blocks = range(len(report.blocks))
    for key, label, marker in (
        ("pre", "forward: pre-activation", "o"),
        ("post", "forward: activation", "s"),
        ("grad", "gradient", "^"),
    ):
        values = [max(row.get(key, FLOOR) or FLOOR, FLOOR) for row in report.blocks]
        if any(key in row for row in report.blocks):
            ax.plot(blocks, values, marker=marker, label=label)
    ax.axhline(report.tolerance["forward"], color="gray", linestyle="--", label=f"tolerance ({report.dtype})")
    if report.first is not None and report.first.block is not None:
        ax.axvline(
            report.first.block, color="red", alpha=0.3, label=f"first divergence: {report.first.stage}"
        )
    ax.set(
        yscale="log",
        xlabel="block",
        ylabel="max |a − b| / max |b|",
        xticks=list(blocks),
        title=f"{report.a} vs {report.b}: {'ok' if report.ok else 'diverges'}",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
