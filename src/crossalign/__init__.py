"""crossalign: align multilingual causal LMs across languages (AFP, AlignX) and measure what changed."""

__version__ = "0.1.0"

from crossalign.errors import CrossalignError  # noqa: E402

__all__ = ["CrossalignError", "__version__"]
