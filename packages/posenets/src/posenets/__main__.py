"""`python -m posenets [PATTERN ...]`: the table of registered models with their sizes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from posenets.errors import PosenetsError
from posenets.flops import count_flops, count_params
from posenets.registry import create_model, list_models, model_entry
from posenets.search_space import SearchSpace


def model_table(patterns: Sequence[str]) -> str:
    """Markdown table (name, input, params, GFLOPs, heatmaps) of the models matching a pattern."""
    names = [name for name in list_models() if any(_matches(name, p) for p in patterns)]
    if not names:
        raise PosenetsError(
            f"no model matches {' '.join(patterns)!r}; available: {', '.join(list_models())}"
        )
    rows = ["| model | input | params (M) | GFLOPs | heatmaps |", "| --- | --- | --- | --- | --- |"]
    for name in names:
        entry = model_entry(name)
        genotype = SearchSpace().ancestor if "genotype" in entry.required else None
        model = create_model(name, genotype=genotype)
        height, width = entry.input_size
        _, out_h, out_w, keypoints = model.output_shape
        label = f"{name} (ancestor)" if genotype is not None else name
        rows.append(
            f"| {label} | {height}x{width} | {count_params(model) / 1e6:.3f} | "
            f"{count_flops(model) / 1e9:.3f} | {out_h}x{out_w}x{keypoints} |"
        )
    return "\n".join(rows)


def _matches(name: str, pattern: str) -> bool:
    """A model name matches itself; shell-style patterns; other words match names holding them."""
    if pattern in list_models() or any(char in pattern for char in "*?["):
        return name in list_models(pattern)
    return pattern in name


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table; errors become one line on stderr and exit code 2."""
    parser = argparse.ArgumentParser(prog="python -m posenets", description=__doc__)
    parser.add_argument(
        "patterns",
        nargs="*",
        default=["*"],
        help="model names, substrings or shell patterns (default: every model; all take a while)",
    )
    args = parser.parse_args(argv)
    try:
        table = model_table(args.patterns)
    except PosenetsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
