"""The names a user chooses from (accountants, devices, models, datasets, metrics, attacks), with no
dependency: the command line declares its options from this module without importing torch, so
``dpkit <command> --help`` stays fast.

One source for each list: the library validates against the tuple it imports from here
(``dpkit.engine.ACCOUNTANTS is dpkit.names.ACCOUNTANTS``). Where a list is built by a registry
instead (datasets, metrics) or lives in a package this module may not reach into, the tuple here
is what the command line shows, and ``tests/test_cli_startup.py`` checks it against the library.
"""

from __future__ import annotations

__all__ = ["ACCOUNTANTS", "ALL_ACCOUNTANTS", "GRAD_SAMPLE_MODES", "DEVICES", "ARCHITECTURES",
           "SCATTERNET_ARCHITECTURES", "SCATTER_HEADS", "SCATTER_NORMS", "NORMS", "OPTIMIZERS",
           "DATASETS", "CLASSIFIER_METRICS", "AUTOATTACK_VERSIONS", "GENERATIVE_METRICS",
           "DOWNSTREAM_METRICS", "GAN_METRICS", "METRICS", "SAMPLE_FORMATS", "CONDITIONINGS",
           "D_STEPS_SCHEDULES", "CLASSIFIER_METHODS",
           "GAN_METHODS", "MEMBERSHIP_METHODS", "RECONSTRUCTION_METHODS", "AUDIT_BOUNDS",
           "AUDIT_VERDICTS", "CANARY_TYPES", "GAN_CANARY_TYPES", "DEFAULT_RECIPES",
           "default_recipes_text"]

# engine: accountants whose ε is an upper bound for Poisson-subsampled Gaussian steps (the only
# ones allowed to calibrate σ or report a training run's ε) ...
ACCOUNTANTS = ("rdp", "prv")
# ... and also GDP's central-limit approximation, shown by the privacy calculator only: it can
# underestimate ε (N = 1500, B = 64, 15 epochs: σ calibrated to GDP ε = 8 has PRV ε 9.28).
ALL_ACCOUNTANTS = ("rdp", "prv", "gdp")
GRAD_SAMPLE_MODES = ("auto", "hooks", "functorch", "ghost", "bk")
# auto: bk when every trainable layer has a book-keeping rule, else hooks (the fastest correct
# mode measured on CPU for dpkit's classifiers and discriminators: BENCHMARKS.md, issue 17)
DEVICES = ("auto", "cpu", "cuda")

# classifiers
# ScatterNet models (Tramèr & Boneh 2021): a head trained on fixed scattering features
SCATTERNET_ARCHITECTURES = ("scatternet-linear", "scatternet-cnn")
ARCHITECTURES = ("cnn", "mlp", "resnet") + SCATTERNET_ARCHITECTURES
SCATTER_HEADS = ("linear", "cnn")
# how the scattering features are normalised: per-example GroupNorm (no privacy cost), DP
# statistics of the private data (composed into ε), or not at all
SCATTER_NORMS = ("group", "data", "none")
NORMS = ("none", "group", "public-bn")
OPTIMIZERS = ("sgd", "adam", "adagrad")
# the recipe (dpkit.classifiers.recipes) a data set trains with by default, by target ε:
# (largest ε it serves, recipe name), in increasing ε. Only data sets whose recipes were measured
# on the full data are listed (BENCHMARKS.md); others keep the command's plain defaults.
DEFAULT_RECIPES: dict[str, tuple[tuple[float, str], ...]] = {
    "fashion-mnist": ((1.5, "fmnist-scatternet-eps1"), (float("inf"), "fmnist-scatternet-eps3")),
}


def default_recipes_text() -> str:
    """:data:`DEFAULT_RECIPES` in words, for --help: ``fashion-mnist: A up to 1.5, else B``."""
    parts = []
    for dataset, steps in DEFAULT_RECIPES.items():
        words = [f"{name} up to {largest:g}" if largest != float("inf") else f"else {name}"
                 for largest, name in steps]
        parts.append(f"{dataset}: {', '.join(words)}")
    return "; ".join(parts)

# data: dpkit's own datasets, in registration order (``data.builtin.BUILTIN_SOURCES``)
DATASETS = ("digits", "mnist", "fashion-mnist", "kmnist", "cifar10", "fer2013", "celeba",
            "imagefolder")

# metrics of ``dpkit evaluate`` per family, in the order dpkit.evaluation registers them
CLASSIFIER_METRICS = ("accuracy", "robust-accuracy", "autoattack", "certified")
AUTOATTACK_VERSIONS = ("standard", "plus", "rand")  # torchattacks' AutoAttack versions  # train-classifier runs
GENERATIVE_METRICS = ("fid", "kid", "prc", "mifid", "ct", "authenticity")  # train-gan runs ...
DOWNSTREAM_METRICS = ("downstream",)  # ... and a classifier trained on their samples
GAN_METRICS = GENERATIVE_METRICS + DOWNSTREAM_METRICS
METRICS = CLASSIFIER_METRICS + GAN_METRICS

# gan
SAMPLE_FORMATS = ("png", "npz")
CONDITIONINGS = ("labelmap", "projection")  # how a conditional discriminator sees the label
D_STEPS_SCHEDULES = ("constant", "adaptive")  # discriminator steps per generator step

# attacks
CLASSIFIER_METHODS = ("loss", "lira")
GAN_METHODS = ("discriminator", "gan-leaks", "gan-leaks-latent")
MEMBERSHIP_METHODS = CLASSIFIER_METHODS + GAN_METHODS
RECONSTRUCTION_METHODS = ("kkt", "gradient-inversion")

# audit: one-run ε lower bounds (Steinke et al. 2023; Mahloujifar et al. 2025, f-DP) and what an
# audit concludes against the claimed ε
AUDIT_BOUNDS = ("steinke", "fdp")
AUDIT_VERDICTS = ("consistent", "violation")
# canaries of ``dpkit audit train-classifier``: held-out examples with a wrong label and synthetic
# out-of-distribution images (black-box: scored by the final model's loss), and Dirac gradients
# added to DP-SGD's clipped sum (white-box: scored by the parameter change)
CANARY_TYPES = ("mislabeled", "ood", "gradient")
# canaries of ``dpkit audit train-gan``: Dirac gradients in the discriminator's DP-SGD steps
# (white-box: scored by the parameter change) and held-out real images (scored by the final
# discriminator's logit)
GAN_CANARY_TYPES = ("gradient", "image")
