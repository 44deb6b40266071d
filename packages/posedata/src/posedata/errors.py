"""The one exception type posedata raises for bad input."""


class DataError(ValueError):
    """Bad data or arguments: the message names the thing, where it is, and the fix."""
