"""backprop: a command-line graph differentiator."""

__version__ = "0.1.0"
