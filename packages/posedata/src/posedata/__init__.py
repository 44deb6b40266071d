"""posedata: COCO keypoints to TFRecords, the tf.data pipeline, heatmaps, synthetic data."""

__version__ = "0.4.0"

from typing import TYPE_CHECKING

# Plain-Python parts load now; everything that needs TensorFlow (or OpenCV) loads on first use,
# so `import posedata` is cheap: an app can read keypoint descriptions and check augmentation
# settings before TensorFlow starts.
from posedata.augment_config import AUGMENT_PRESETS, AugmentConfig, augment_problem
from posedata.errors import DataError
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

_LAZY = {  # public name: the module that defines it (imported on first access)
    "SPLITS": "convert",
    "check_jpeg": "convert",
    "convert_coco": "convert",
    "read_manifest": "convert",
    "ConvertedSplit": "converted",
    "IMAGENET_MEAN": "crops",
    "IMAGENET_STD": "crops",
    "crop_image": "crops",
    "crop_jpeg": "crops",
    "crop_pixels": "crops",
    "normalize_images": "crops",
    "warp_image": "crops",
    "GraphMiscompileError": "graphcheck",
    "check_graph_geometry": "graphcheck",
    "encode_heatmaps": "heatmaps",
    "heatmap_centres": "heatmaps",
    "heatmap_sigma": "heatmaps",
    "make_dataset": "pipeline",
    "training_batches": "pipeline",
    "validation_batches": "pipeline",
    "prediction_batches": "pipeline",
    "SyntheticCoco": "synthetic",
    "make_synthetic_coco": "synthetic",
    "apply_transform": "transform",
    "crop_transform": "transform",
    "invert_transform": "transform",
    "mirror_transform": "transform",
}

if TYPE_CHECKING:
    from posedata import synthetic
    from posedata.convert import SPLITS, check_jpeg, convert_coco, read_manifest
    from posedata.converted import ConvertedSplit
    from posedata.crops import (
        IMAGENET_MEAN,
        IMAGENET_STD,
        crop_image,
        crop_jpeg,
        crop_pixels,
        normalize_images,
        warp_image,
    )
    from posedata.graphcheck import GraphMiscompileError, check_graph_geometry
    from posedata.heatmaps import encode_heatmaps, heatmap_centres, heatmap_sigma
    from posedata.pipeline import (
        make_dataset,
        prediction_batches,
        training_batches,
        validation_batches,
    )
    from posedata.synthetic import SyntheticCoco, make_synthetic_coco
    from posedata.transform import (
        apply_transform,
        crop_transform,
        invert_transform,
        mirror_transform,
    )


def __getattr__(name: str) -> object:
    """Loads a TensorFlow-backed public name (or the `synthetic` module) on first access."""
    import importlib

    if name == "synthetic":
        return importlib.import_module("posedata.synthetic")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'posedata' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"posedata.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | {"synthetic"})


__all__ = [
    "AIC",
    "AUGMENT_PRESETS",
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
    "ConvertedSplit",
    "DataError",
    "DatasetInfo",
    "GraphMiscompileError",
    "SyntheticCoco",
    "__version__",
    "apply_transform",
    "augment_problem",
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
    "prediction_batches",
    "read_manifest",
    "synthetic",
    "training_batches",
    "validation_batches",
    "warp_image",
]
