"""The pictures (issue 14, point 10): the search lineage's title stays inside the figure, for
chains short and long; the loss curve's PNG marks the best epoch."""

from pathlib import Path

import cv2
import numpy as np
import pytest

import evosearch
from evopose.runfiles import RunFiles, plot_loss_curve
from evopose.search.candidate import CandidateInfo, CandidateMetrics
from evopose.search.evopose_space import EvoPoseSpace
from evopose.search.search_report import SearchReport, lineage_figure

ANCESTOR = [[3, 1, 2, 1], [3, 2, 3, 2], [5, 2, 5, 2], [3, 3, 10, 2], [5, 3, 14, 1],
            [5, 4, 24, 2], [3, 1, 40, 1]]  # fmt: skip


def _candidate(index: int) -> evosearch.Candidate:
    genes = [list(gene) for gene in ANCESTOR]
    genes[index % 7][0] = 8 - genes[index % 7][0]  # kernel 3 <-> 5 (the widest genotype)
    return evosearch.Candidate(
        id=index + 1, generation=index, child_index=0, parent_id=index or None, genotype=genes,
        status="done", budget=1, seed=0, artifact_dir="", artifact=None,
        metrics=CandidateMetrics(
            val_loss=90.0 - index, params=2.5e6, flops=1e9, best_epoch=1.0, epochs=1.0,
            resumed_from_epoch=0.0, train_seconds=1.0, inherited_fraction=0.93,
        ).to_json(),
        info=CandidateInfo(
            EvoPoseSpace().describe(genes),
            mutation="module 3 channels 40->48; module 4 kernel 3->5",
        ).to_json(),
        fitness=100.0 - index, device=None, attempts=1, error=None, traceback=None,
        created_at=0.0, started_at=0.0, finished_at=0.0, eval_seconds=1.0,
    )  # fmt: skip


@pytest.mark.parametrize("steps", [1, 2, 6])
def test_the_lineage_title_is_inside_the_figure(steps):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    chain = [_candidate(i) for i in range(steps)]
    report = SearchReport(
        root=Path("."), settings={}, counts={}, leaderboard=[], generations=[],
        pareto_front=[], lineage=chain,
    )  # fmt: skip
    figure = lineage_figure(report)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    title = figure.axes[0].title
    box, inside = title.get_window_extent(renderer), figure.bbox
    assert inside.x0 <= box.x0 and box.x1 <= inside.x1 and box.y1 <= inside.y1, (box, inside)
    assert title.get_text().replace("\n", "").endswith(chain[-1].info["genotype"])
    for note in figure.axes[0].texts:  # the steps' labels do not reach the title
        assert note.get_window_extent(renderer).y1 < box.y0


def test_the_loss_curve_png_stars_the_best_epoch(tmp_path):
    history = {"heatmap_loss": [3.0, 2.0, 1.5, 1.2], "val_heatmap_loss": [3.1, 1.9, 2.2, 2.0]}
    files = RunFiles(tmp_path)
    plot_loss_curve(files, history)
    image = cv2.imread(str(files.loss_curve))
    assert image is not None and image.shape[:2] == (400, 600)
    red = (image[..., 2] > 180) & (image[..., 1] < 80) & (image[..., 0] < 80)  # stars
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # written atomically
    xs = np.nonzero(red)[1]
    assert (xs < image.shape[1] / 2).sum() > 20  # at epoch 2 of 4, left of the middle
