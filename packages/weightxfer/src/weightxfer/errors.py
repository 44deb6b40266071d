"""The one exception type weightxfer raises for input it cannot transfer."""


class WeightTransferError(ValueError):
    """A parent and a child (array, layer or model) that cannot be transferred between."""
