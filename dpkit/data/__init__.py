"""Datasets: one registry, fixed splits, recorded membership."""

from dpkit.data.digits import load_digits_split
from dpkit.data.idx import idx_loader, read_idx
from dpkit.data.registry import (DataOptions, DatasetBundle, DatasetSource, RawSplit,
                                 dataset_from_record, get, load_dataset, names, register)
from dpkit.data.tensors import ImageTensorDataset

__all__ = [
    "DataOptions", "DatasetBundle", "DatasetSource", "ImageTensorDataset", "RawSplit",
    "dataset_from_record", "get", "load_dataset", "names", "register", "read_idx",
    "register_builtin_datasets",
]

_FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                    "Sneaker", "Bag", "Ankle boot")


def register_builtin_datasets() -> None:
    """Register dpkit's datasets (idempotent)."""
    if "digits" in names():
        return
    register(DatasetSource("digits", load_digits_split, 10,
                           "scikit-learn's bundled 8x8 handwritten digits (embedded, no download)",
                           tuple(str(i) for i in range(10))))
    register(DatasetSource("mnist", idx_loader("mnist"), 10, "MNIST handwritten digits (idx files)",
                           tuple(str(i) for i in range(10))))
    register(DatasetSource("fashion-mnist", idx_loader("fashion-mnist"), 10,
                           "Fashion-MNIST (idx files; Debian's dataset-fashion-mnist)",
                           _FASHION_CLASSES))
    register(DatasetSource("kmnist", idx_loader("kmnist"), 10, "Kuzushiji-MNIST (idx files)"))


register_builtin_datasets()
