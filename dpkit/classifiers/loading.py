"""``load_classifier``: a trained classifier from its run directory, with the exact data split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dpkit.classifiers.models import ModelConfig, build_model
from dpkit.data import DatasetBundle, dataset_from_record

COMMAND = "train-classifier"
from dpkit.engine import load_weights, open_run_dir

__all__ = ["LoadedClassifier", "load_classifier"]


@dataclass(frozen=True)
class LoadedClassifier:
    """A classifier run: ``model`` (eval mode, has ``features(x)``), its config.json, the data
    split it was trained on (``bundle.train`` = members; None when loaded with
    ``load_data=False``), its number of classes and the run directory."""

    model: nn.Module
    config: dict[str, Any]
    bundle: DatasetBundle | None
    run_dir: Path
    num_classes: int


def load_classifier(run_dir: str | Path, *, device: torch.device | str = "cpu",
                    load_data: bool = True) -> LoadedClassifier:
    """Load final.pt (or, for an unfinished run, the latest checkpoint.pt) of a classifier run.

    The architecture's input shape and outputs come from split.json; the data itself is only
    loaded with ``load_data``.
    """
    run = open_run_dir(run_dir, kind=COMMAND)
    config = run.config
    split = run.read_split()
    model = build_model(ModelConfig.from_dict(config["model"]), in_channels=split["channels"],
                        image_size=split["image_size"], num_classes=split["num_classes"])
    model.load_state_dict(load_weights(run.final_path, run.checkpoint_path, "model"))
    return LoadedClassifier(model=model.to(device).eval(), config=config,
                            bundle=dataset_from_record(split) if load_data else None,
                            run_dir=run.path, num_classes=split["num_classes"])
