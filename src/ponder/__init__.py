"""ponder: an inference-time compute engine for reasoning language models."""

__version__ = "0.1.0"
