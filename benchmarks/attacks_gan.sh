#!/usr/bin/env bash
# GAN membership attacks, non-private vs DP (epsilon 8), on small digits DCGANs (CPU, minutes).
# Two training lengths: "short" (200 images, 20 epochs = 80 D steps) and "long" (100 images,
# 300 epochs = 1200 D steps, where a non-private GAN starts to memorise).
# Usage: bash benchmarks/attacks_gan.sh [OUT_DIR]
set -euo pipefail
out=${1:-runs/bench-attacks-gan}
model=(--dataset digits --image-size 28 --latent-dim 32 --g-width 16 --d-width 16 --quiet)
declare -A length=([short]="--subset 200 --epochs 20 --batch-size 50"
                   [long]="--subset 100 --epochs 300 --batch-size 25")
for len in short long; do
  # shellcheck disable=SC2086
  dpkit train-gan "${model[@]}" ${length[$len]} --no-dp --out "$out/$len-nodp"
  # shellcheck disable=SC2086
  dpkit train-gan "${model[@]}" ${length[$len]} --epsilon 8 --delta 1e-3 --out "$out/$len-dp8"
  for run in "$len-nodp" "$len-dp8"; do
    for method in discriminator gan-leaks gan-leaks-latent; do
      echo "$run $method $(dpkit attack membership "$out/$run" --method $method \
          --num-samples 2000 --latent-steps 100 --json)"
    done
  done
done
