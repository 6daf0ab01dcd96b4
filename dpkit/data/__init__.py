"""Datasets: one registry, fixed splits, recorded membership.

The registry's table starts with dpkit's own datasets, declared in ``builtin.BUILTIN_SOURCES``;
``register`` adds others.
"""

from dpkit.data.idx import read_idx
from dpkit.data.registry import (DataOptions, DatasetBundle, dataset_from_record, get,
                                 load_dataset, names, register, register_builtin_datasets)
from dpkit.data.samples import SampleImages, load_sample_images, match_channels
from dpkit.data.sources import DatasetSource, FileCheck, RawSplit
from dpkit.data.tensors import ImageTensorDataset, to_uint8

__all__ = [
    "DataOptions", "DatasetBundle", "DatasetSource", "FileCheck", "ImageTensorDataset", "RawSplit",
    "dataset_from_record", "get", "load_dataset", "names", "register", "read_idx",
    "register_builtin_datasets", "to_uint8", "SampleImages", "load_sample_images",
    "match_channels",
]
