"""Click commands of the ``dpkit`` CLI (one module per command; logic lives in the library)."""
