"""cocoeval_tools: from top-down pose heatmaps to COCO keypoint AP, by the official protocol.

Framework-free (numpy in, numpy out): heatmap decoding, flip test, mapping back through the
crop transforms, instance rescoring, OKS-NMS, COCO results and evaluation, and PCKh
(MPII's metric).
"""

from cocoeval_tools.coco_eval import BACKENDS, STAT_NAMES, CocoStats, evaluate
from cocoeval_tools.decoding import decode_heatmaps, flip_indices, flip_merge
from cocoeval_tools.errors import (
    BackendUnavailableError,
    CocoEvalToolsError,
    EmptyResultsWarning,
    GroundTruthError,
    InvalidInputError,
    ResultsFormatError,
)
from cocoeval_tools.nms import oks_nms, soft_oks_nms
from cocoeval_tools.oks import COCO_SIGMAS
from cocoeval_tools.pckh import (
    HEAD_BOX_FACTOR,
    MPII_MEAN_EXCLUDED,
    PCKhResult,
    head_sizes_from_boxes,
    pckh,
)
from cocoeval_tools.results import check_results, read_results, to_coco_results, write_results
from cocoeval_tools.scoring import rescore
from cocoeval_tools.synthetic_results import synthetic_keypoint_dataset
from cocoeval_tools.transforms import invert_transforms, to_image_coords

__version__ = "0.3.0"

__all__ = [
    "BACKENDS",
    "COCO_SIGMAS",
    "HEAD_BOX_FACTOR",
    "MPII_MEAN_EXCLUDED",
    "STAT_NAMES",
    "BackendUnavailableError",
    "CocoEvalToolsError",
    "CocoStats",
    "EmptyResultsWarning",
    "GroundTruthError",
    "InvalidInputError",
    "PCKhResult",
    "ResultsFormatError",
    "check_results",
    "decode_heatmaps",
    "evaluate",
    "flip_indices",
    "flip_merge",
    "head_sizes_from_boxes",
    "invert_transforms",
    "oks_nms",
    "pckh",
    "read_results",
    "rescore",
    "soft_oks_nms",
    "synthetic_keypoint_dataset",
    "to_coco_results",
    "to_image_coords",
    "write_results",
]
