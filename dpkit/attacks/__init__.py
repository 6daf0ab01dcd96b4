"""Privacy attacks: membership inference and training-data reconstruction.

Every membership attack returns :class:`MembershipScores` (higher = member); :mod:`.scores` turns
them into AUC, TPR at low FPR and (:mod:`.epsilon`) the empirical ε lower bound of the ROC. Every reconstruction is scored by SSIM/PSNR against its nearest
training image (:mod:`.image_quality`).
"""

from dpkit.attacks.epsilon import EpsilonLowerBound, epsilon_lower_bound
from dpkit.attacks.gan_membership import (LatentSearchConfig, closest_distances,
                                          discriminator_attack, gan_leaks_attack,
                                          gan_leaks_latent_attack)
from dpkit.attacks.image_quality import (Match, match_to_training, pairwise_ssim, psnr,
                                         rescale_per_image, ssim)
from dpkit.attacks.inversion import (InversionConfig, invert_gradient, observed_gradient,
                                     total_variation)
from dpkit.attacks.kkt import (KKTConfig, KKTResult, binary_margin, check_homogeneous,
                               kkt_reconstruct)
from dpkit.attacks.membership import (LiRAConfig, LiRAResult, classifier_shadow_fit, lira_attack,
                                      lira_population, lira_scores, logit_confidence,
                                      loss_attack, membership_split, per_example_loss,
                                      shadow_assignment, train_shadow_confidences)
from dpkit.attacks.plots import grid_png, paired_grid_png, roc_png
from dpkit.attacks.runs import (CLASSIFIER_METHODS, GAN_METHODS, MEMBERSHIP_METHODS,
                               RECONSTRUCTION_METHODS, MembershipOptions, MembershipRun,
                               ReconstructionOptions, ReconstructionRun, run_membership,
                               run_reconstruction)
from dpkit.attacks.scores import (AttackMetrics, MembershipScores, RocCurve, attack_metrics, auc,
                                  roc_curve, tpr_at_fpr)

__all__ = [
    "AttackMetrics", "MembershipScores", "RocCurve", "attack_metrics", "auc", "roc_curve",
    "tpr_at_fpr", "Match", "match_to_training", "pairwise_ssim", "psnr", "ssim", "grid_png",
    "paired_grid_png",
    "roc_png", "InversionConfig", "invert_gradient", "observed_gradient", "total_variation",
    "KKTConfig", "KKTResult", "binary_margin", "check_homogeneous", "kkt_reconstruct",
    "rescale_per_image", "LiRAConfig", "LiRAResult", "classifier_shadow_fit", "lira_attack",
    "lira_scores", "logit_confidence", "loss_attack", "lira_population", "membership_split",
    "per_example_loss",
    "shadow_assignment", "train_shadow_confidences", "LatentSearchConfig", "closest_distances",
    "discriminator_attack", "gan_leaks_attack", "gan_leaks_latent_attack",
    "CLASSIFIER_METHODS", "GAN_METHODS", "MEMBERSHIP_METHODS", "RECONSTRUCTION_METHODS",
    "MembershipOptions", "MembershipRun", "ReconstructionOptions", "ReconstructionRun",
    "run_membership", "run_reconstruction", "EpsilonLowerBound", "epsilon_lower_bound",
]
