"""The worked example of docs/porting.md runs, and prints the divergence and hint the page shows."""

import contextlib
import io
import re
from pathlib import Path

PAGE = Path(__file__).resolve().parent.parent / "docs" / "porting.md"


def blocks(text, language):
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def verdict(lines):
    """The first-divergence and hint lines up to their numbers (rounding and Keras's backend vary)."""
    first = [line.rsplit(":", 1)[0] for line in lines if line.startswith("FIRST DIVERGENCE")]
    return first + [line.split(":")[0] for line in lines if line.startswith("hint [")]


EXPECTED = [
    ["FIRST DIVERGENCE: forward at block 0 (activation)", "hint [activation-slope] block 0"],
    ["FIRST DIVERGENCE: structure at block 1 (activation)", "hint [missing-residual] block 1"],
]


def test_the_worked_keras_examples_run_and_print_what_the_page_shows():
    """Each example: the Keras-to-torch LeakyReLU port, and the torch residual block's Keras port."""
    examples = PAGE.read_text().split("<!-- worked-example")[1:]
    assert len(examples) == len(EXPECTED)
    for example, expected in zip(examples, EXPECTED):
        code, shown = blocks(example, "python")[0], blocks(example, "text")[0]
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(code, str(PAGE), "exec"), {"__name__": "porting_example"})  # its asserts included
        assert verdict(printed.getvalue().splitlines()) == verdict(shown.splitlines()) == expected


def test_the_three_steps_examples_run():
    """Each block of "Port a model in three steps": write the port, transfer, check ok (its asserts)."""
    examples = PAGE.read_text().split("<!-- three-steps")[1:]
    assert len(examples) == 2  # the residual net to Keras, the transformer block to Flax NNX
    for example in examples:
        exec(compile(blocks(example, "python")[0], str(PAGE), "exec"), {"__name__": "porting_example"})
