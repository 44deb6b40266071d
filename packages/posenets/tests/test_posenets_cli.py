"""`python -m posenets`: the model table and its one-line errors."""

from __future__ import annotations

from posenets.__main__ import main


def test_the_table_lists_the_matching_models_with_their_sizes(capsys):
    assert main(["evopose2d_xs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| model | input | params (M) | GFLOPs | heatmaps |"
    assert lines[2:] == ["| evopose2d_xs | 256x192 | 2.531 | 0.480 | 64x48x17 |"]


def test_the_genotype_model_is_shown_with_the_ancestor(capsys):
    assert main(["evopose2d"]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    assert len(rows) == 1 and rows[0].startswith("| evopose2d (ancestor) | 256x192 |")


def test_words_match_names_holding_them(capsys):
    assert main(["_xs", "evopose2d_x*"]) == 0
    assert capsys.readouterr().out.count("| evopose2d_xs |") == 1


def test_no_match_is_a_one_line_error(capsys):
    assert main(["yolo"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("error: no model matches 'yolo'; available: evopose2d_xs")
