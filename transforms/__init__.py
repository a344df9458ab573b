"""The catalogue users start from: template handlers, sample Dodo events, sandbox helpers.

Imports nothing of paybridge's: the caller hands ``HELPERS`` to the sandbox.
"""

from transforms.catalogue import (
    EVENT_TYPES,
    TEMPLATES,
    real_samples,
    sample,
    samples,
    template,
    templates,
)
from transforms.helpers import HELPERS

__all__ = [
    "EVENT_TYPES",
    "HELPERS",
    "TEMPLATES",
    "real_samples",
    "sample",
    "samples",
    "template",
    "templates",
]
