"""Classifiers: models, PGD/FGSM, public-data BatchNorm, DP training, robust and certified accuracy."""

from dpkit.classifiers.adversarial import (AdversarialCoins, PGDConfig, fgsm_attack,
                                           no_grad_sample, pgd_attack)
from dpkit.classifiers.evaluate_run import (CLASSIFIER_METRICS, ClassifierEvalConfig,
                                            ClassifierEvaluation, evaluate_classifier_run)
from dpkit.classifiers.evaluation import (RobustResult, evaluate_accuracy, predict,
                                          robust_accuracy, robust_curve)
from dpkit.classifiers.scattering import FeatureDataset, ScatteringParams, cached_features
from dpkit.classifiers.scatternet import ScatterHead, ScatterNet, dp_feature_statistics
from dpkit.classifiers.loading import LoadedClassifier, load_classifier
from dpkit.classifiers.models import (ARCHITECTURES, MLP, GroupNormResNet, ModelConfig,
                                      TramerBonehCNN, build_model)
from dpkit.classifiers.norms import (NORMS, ChannelAffine, PublicBatchNorm, PublicNorm, WSConv2d,
                                     public_statistics)
from dpkit.classifiers.recipes import (CLASSIFIER_RECIPES, classifier_recipe, default_recipe,
                                       flip_invariant, format_recipes)
from dpkit.classifiers.runs import TrainResult, resume_classifier, run_config, train_classifier
from dpkit.classifiers.smoothing import (ABSTAIN, Certificate, CertifiedResult, certified_accuracy,
                                         certify, clopper_pearson_lower)
from dpkit.classifiers.training import (OPTIMIZERS, ClassifierConfig, FitResult,
                                        check_classifier_data, fit_classifier, make_optimizer,
                                        training_inputs)

__all__ = [
    "ABSTAIN", "ARCHITECTURES", "CLASSIFIER_METRICS", "NORMS", "OPTIMIZERS",
    "ClassifierEvalConfig", "ClassifierEvaluation", "evaluate_classifier_run",
    "Certificate", "CertifiedResult", "ChannelAffine", "ClassifierConfig", "FitResult",
    "GroupNormResNet", "LoadedClassifier", "MLP", "ModelConfig", "PGDConfig", "PublicBatchNorm",
    "PublicNorm", "RobustResult", "TrainResult", "TramerBonehCNN", "WSConv2d",
    "build_model", "certified_accuracy", "certify", "clopper_pearson_lower", "evaluate_accuracy",
    "fgsm_attack", "fit_classifier", "load_classifier", "make_optimizer", "no_grad_sample",
    "pgd_attack", "predict", "public_statistics", "resume_classifier", "robust_accuracy",
    "robust_curve", "run_config", "train_classifier", "AdversarialCoins",
    "check_classifier_data", "training_inputs", "CLASSIFIER_RECIPES", "classifier_recipe",
    "default_recipe", "flip_invariant", "format_recipes", "FeatureDataset", "ScatteringParams",
    "cached_features",
    "ScatterHead", "ScatterNet", "dp_feature_statistics",
]
