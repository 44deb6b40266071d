"""posedata: COCO keypoints to TFRecords, the tf.data pipeline, heatmaps, synthetic data."""

__version__ = "0.1.0"

from posedata import synthetic
from posedata.augment import AugmentConfig
from posedata.convert import SPLITS, check_jpeg, convert_coco, read_manifest
from posedata.errors import DataError
from posedata.heatmaps import encode_heatmaps, heatmap_centres, heatmap_sigma
from posedata.info import COCO_PERSON, DatasetInfo
from posedata.pipeline import IMAGENET_MEAN, IMAGENET_STD, make_dataset, normalize_images
from posedata.synthetic import SyntheticCoco, make_synthetic_coco
from posedata.transform import apply_transform, crop_transform, invert_transform, mirror_transform

__all__ = [
    "COCO_PERSON",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SPLITS",
    "AugmentConfig",
    "DataError",
    "DatasetInfo",
    "SyntheticCoco",
    "__version__",
    "apply_transform",
    "check_jpeg",
    "convert_coco",
    "crop_transform",
    "encode_heatmaps",
    "heatmap_centres",
    "heatmap_sigma",
    "invert_transform",
    "make_dataset",
    "make_synthetic_coco",
    "mirror_transform",
    "normalize_images",
    "read_manifest",
    "synthetic",
]
