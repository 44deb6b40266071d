"""posedata: COCO keypoints to TFRecords, the tf.data pipeline, heatmaps, synthetic data."""

__version__ = "0.2.0"

from posedata import synthetic
from posedata.augment import AugmentConfig
from posedata.convert import SPLITS, check_jpeg, convert_coco, read_manifest
from posedata.crops import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    crop_image,
    crop_jpeg,
    crop_pixels,
    normalize_images,
    warp_image,
)
from posedata.errors import DataError
from posedata.graphcheck import GraphMiscompileError, check_graph_geometry
from posedata.heatmaps import encode_heatmaps, heatmap_centres, heatmap_sigma
from posedata.info import (
    AIC,
    COCO_PERSON,
    CROWDPOSE,
    KEYPOINT_SETS,
    MPII,
    OCHUMAN,
    POSETRACK18,
    DatasetInfo,
    find_keypoint_set,
    keypoint_set,
)
from posedata.pipeline import make_dataset
from posedata.synthetic import SyntheticCoco, make_synthetic_coco
from posedata.transform import apply_transform, crop_transform, invert_transform, mirror_transform

__all__ = [
    "AIC",
    "COCO_PERSON",
    "CROWDPOSE",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "KEYPOINT_SETS",
    "MPII",
    "OCHUMAN",
    "POSETRACK18",
    "SPLITS",
    "AugmentConfig",
    "DataError",
    "DatasetInfo",
    "GraphMiscompileError",
    "SyntheticCoco",
    "__version__",
    "apply_transform",
    "check_graph_geometry",
    "check_jpeg",
    "convert_coco",
    "crop_image",
    "crop_jpeg",
    "crop_pixels",
    "crop_transform",
    "encode_heatmaps",
    "find_keypoint_set",
    "heatmap_centres",
    "heatmap_sigma",
    "invert_transform",
    "keypoint_set",
    "make_dataset",
    "make_synthetic_coco",
    "mirror_transform",
    "normalize_images",
    "read_manifest",
    "synthetic",
    "warp_image",
]
