"""TransferReport: totals, the aligned table, plain dicts."""

import json

import pytest

from weightxfer import LayerTransfer, TransferReport

STEM = LayerTransfer("stem_conv", "stem_conv", "full", 864, 864, ((3, 3, 3, 32),), ((3, 3, 3, 32),))
GROWN = LayerTransfer(
    "block2b_project_conv", "block2a_project_conv", "partial", 2304, 4608,
    ((1, 1, 96, 24),), ((1, 1, 96, 48),),
)  # fmt: skip
NEW = LayerTransfer("top", None, "none", 0, 1000, (), ((1000,),))
REPORT = TransferReport(layers=(STEM, GROWN, NEW), unused_parent_layers=("block3a_dwconv",))


def test_totals_add_up_the_layers():
    assert REPORT.inherited_params == 864 + 2304
    assert REPORT.total_params == 864 + 4608 + 1000
    assert REPORT.inherited_fraction == pytest.approx(3168 / 6472)
    assert REPORT.counts == {"full": 1, "partial": 1, "none": 1}


def test_an_empty_report_inherits_nothing():
    assert TransferReport(layers=()).inherited_fraction == 0.0


def test_entries_are_found_by_child_layer_name():
    assert REPORT["top"].status == "none"
    with pytest.raises(KeyError, match="nope"):
        REPORT["nope"]


def test_the_table_has_one_aligned_row_per_layer_and_the_totals():
    lines = REPORT.table().splitlines()
    header, rows = lines[0], lines[2:5]
    assert header.split()[:3] == ["layer", "inherited", "from"]
    assert [row.split()[0] for row in rows] == ["stem_conv", "block2b_project_conv", "top"]
    status_column = header.index("status")
    assert [row[status_column:].split()[0] for row in rows] == ["full", "partial", "none"]
    fraction_end = header.index("fraction") + len("fraction")
    assert [row[:fraction_end].split()[-1] for row in rows] == ["100.0%", "50.0%", "0.0%"]
    assert "1x1x96x24 -> 1x1x96x48" in rows[1]
    assert lines[6].startswith("total") and "3,168" in lines[6] and "6,472" in lines[6]
    assert lines[7] == "3 layers: 1 full, 1 partial, 1 none"
    assert lines[8] == "parent layers nothing inherited from: block3a_dwconv"
    assert str(REPORT) == REPORT.table()


def test_the_report_converts_to_plain_json_ready_dicts():
    data = json.loads(json.dumps(REPORT.as_dict()))
    assert data["totals"] == {
        "layers": 3,
        "full": 1,
        "partial": 1,
        "none": 1,
        "inherited_params": 3168,
        "total_params": 6472,
        "inherited_fraction": pytest.approx(3168 / 6472),
    }
    assert data["layers"][1] == {
        "name": "block2b_project_conv",
        "source": "block2a_project_conv",
        "status": "partial",
        "inherited_params": 2304,
        "total_params": 4608,
        "inherited_fraction": 0.5,
        "parent_shapes": [[1, 1, 96, 24]],
        "child_shapes": [[1, 1, 96, 48]],
    }
    assert data["unused_parent_layers"] == ["block3a_dwconv"]
