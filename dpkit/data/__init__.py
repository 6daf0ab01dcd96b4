"""Datasets: one registry, fixed splits, recorded membership.

The built-in datasets are registered the first time the registry is used (``get``, ``names``,
``register`` or ``load_dataset``), not as a side effect of importing this package.
"""

from dpkit.data.builtin import register_builtin_datasets
from dpkit.data.idx import read_idx
from dpkit.data.registry import (DataOptions, DatasetBundle, DatasetSource, RawSplit,
                                 dataset_from_record, get, load_dataset, names, register)
from dpkit.data.tensors import ImageTensorDataset

__all__ = [
    "DataOptions", "DatasetBundle", "DatasetSource", "ImageTensorDataset", "RawSplit",
    "dataset_from_record", "get", "load_dataset", "names", "register", "read_idx",
    "register_builtin_datasets",
]
