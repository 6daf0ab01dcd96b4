"""dpkit's own datasets, declared as :data:`BUILTIN_SOURCES`.

``registry.py`` starts its table from this tuple; this module knows nothing of the registry.
"""

from __future__ import annotations

from dpkit.data.celeba import load_celeba_split
from dpkit.data.cifar import CIFAR10_CLASSES, load_cifar10_split
from dpkit.data.digits import load_digits_split
from dpkit.data.fer2013 import FER2013_CLASSES, load_fer2013_split
from dpkit.data.folder import load_image_folder_split
from dpkit.data.idx import idx_file_check, idx_loader
from dpkit.data.sources import DatasetSource

__all__ = ["BUILTIN_SOURCES"]

_DIGITS = tuple(str(i) for i in range(10))
_FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                    "Sneaker", "Bag", "Ankle boot")

BUILTIN_SOURCES: tuple[DatasetSource, ...] = (
    DatasetSource("digits", load_digits_split, 10,
                  "scikit-learn's bundled 8x8 handwritten digits (embedded, no download)", _DIGITS),
    DatasetSource("mnist", idx_loader("mnist"), 10, "MNIST handwritten digits (idx files)",
                  _DIGITS, check_files=idx_file_check("mnist")),
    DatasetSource("fashion-mnist", idx_loader("fashion-mnist"), 10,
                  "Fashion-MNIST (idx files; Debian's dataset-fashion-mnist)", _FASHION_CLASSES,
                  check_files=idx_file_check("fashion-mnist")),
    DatasetSource("kmnist", idx_loader("kmnist"), 10, "Kuzushiji-MNIST (idx files)",
                  check_files=idx_file_check("kmnist")),
    DatasetSource("cifar10", load_cifar10_split, 10,
                  "CIFAR-10 32x32 colour images (python pickles, cifar-10-batches-py)",
                  CIFAR10_CLASSES),
    DatasetSource("fer2013", load_fer2013_split, 7,
                  "FER-2013 48x48 grayscale faces, 7 emotions (Kaggle fer2013.csv)",
                  FER2013_CLASSES),
    DatasetSource("celeba", load_celeba_split, 2,
                  "CelebA aligned faces, centre-cropped to 178x178 and resized (default 64); "
                  "label = attribute Male", ("female", "male"), sized_loader=True),
    DatasetSource("imagefolder", load_image_folder_split, 0,
                  "a folder of class sub-folders of PNG/JPEG/BMP images (--data-root)",
                  sized_loader=True),
)

