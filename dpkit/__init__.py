"""dpkit: differentially private GANs and classifiers, with the metrics and attacks that show
what they remember."""

__version__ = "0.1.0"
__all__ = ["__version__"]
