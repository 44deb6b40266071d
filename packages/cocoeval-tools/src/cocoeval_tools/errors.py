"""Exceptions and warnings raised by cocoeval_tools."""

from __future__ import annotations


class CocoEvalToolsError(Exception):
    """Base class of every error raised by cocoeval_tools."""


class InvalidInputError(CocoEvalToolsError, ValueError):
    """An array or argument has the wrong shape, type or value."""


class ResultsFormatError(CocoEvalToolsError, ValueError):
    """Keypoint results are not in the COCO keypoint results format."""


class GroundTruthError(CocoEvalToolsError, ValueError):
    """Ground truth cannot be loaded, or results and ground truth do not match."""


class BackendUnavailableError(CocoEvalToolsError, ImportError):
    """The evaluation backend asked for is not installed."""


class EmptyResultsWarning(UserWarning):
    """Evaluation was asked for with no results; every metric is reported as zero."""
