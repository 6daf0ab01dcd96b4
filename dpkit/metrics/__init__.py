"""Generative metrics: FID, KID, precision/recall (torch-fidelity), MiFID, the data-copying test
C_T, authenticity and per-sample nearest neighbours, on named features."""

from dpkit.metrics.authenticity import AuthenticityResult, authenticity
from dpkit.metrics.cache import cached_reference_features, default_cache_dir
from dpkit.metrics.features import (FeatureSpec, ResolvedFeatures, build_extractor,
                                    extract_features, inception_weights_path, parse_features,
                                    register_extractors, resolve_features)
from dpkit.metrics.data_copying import DataCopyingResult, data_copying_test, kmeans_cells
from dpkit.metrics.fidelity_model import FidelityGenerator
from dpkit.metrics.fid import (FeatureStatistics, features_to_statistics, fid_from_features,
                               frechet_distance)
from dpkit.metrics.generative import (GENERATIVE_METRICS, MEMORIZATION_METRICS,
                                      GenerativeEvalConfig, GenerativeEvaluation,
                                      evaluate_features, evaluate_images)
from dpkit.metrics.kid import KIDResult, kid_from_features
from dpkit.metrics.memorization import NearestNeighbours, most_copied, nearest_neighbours
from dpkit.metrics.mifid import (MemorizationThreshold, MiFIDResult, choose_threshold,
                                 memorization_distance, mifid, mifid_from_features,
                                 threshold_distance)
from dpkit.metrics.random_cnn import RandomCNN
from dpkit.metrics.neighbours import nearest
from dpkit.metrics.prc import PrecisionRecall, precision_recall_from_features

__all__ = [
    "FeatureSpec", "ResolvedFeatures", "resolve_features", "RandomCNN", "parse_features", "inception_weights_path", "build_extractor",
    "extract_features", "register_extractors",
    "FeatureStatistics", "features_to_statistics", "frechet_distance", "fid_from_features",
    "KIDResult", "kid_from_features", "PrecisionRecall", "precision_recall_from_features",
    "MiFIDResult", "MemorizationThreshold", "choose_threshold", "memorization_distance", "threshold_distance", "mifid", "mifid_from_features",
    "cached_reference_features", "default_cache_dir", "FidelityGenerator",
    "GENERATIVE_METRICS", "GenerativeEvalConfig", "GenerativeEvaluation", "evaluate_features",
    "evaluate_images", "MEMORIZATION_METRICS", "nearest", "NearestNeighbours",
    "nearest_neighbours", "most_copied", "DataCopyingResult", "data_copying_test", "kmeans_cells",
    "AuthenticityResult", "authenticity",
]
