#!/usr/bin/env bash
# One esp study split over a Slurm job array: task i runs `esp run --shard i/N` against a
# results directory on a shared file system. Rerunning the array (or a failed task) resumes:
# finished runs are kept, interrupted ones resume from their last epoch. Then merge with
#   esp report --in "$RESULTS/study"
#
#   sbatch deploy/slurm-array.sh            (RESULTS, DATASET, MODEL, RUNS, EPOCHS may be exported)
#SBATCH --job-name=esp-study
#SBATCH --array=0-7
#SBATCH --cpus-per-task=2
#SBATCH --mem=2G
#SBATCH --time=12:00:00
set -euo pipefail
RESULTS=${RESULTS:-$HOME/esp-results}
DATASET=${DATASET:-mnist}
MODEL=${MODEL:-mlp}
RUNS=${RUNS:-200}
EPOCHS=${EPOCHS:-50} # the authors' MLP runs (their LeNet: 11)
SHARDS=${SLURM_ARRAY_TASK_COUNT:-8}
INDEX=${SLURM_ARRAY_TASK_ID:-0}
mkdir -p "$RESULTS"
exec esp run --dataset "$DATASET" --model "$MODEL" --runs "$RUNS" --epochs "$EPOCHS" --workers 1 \
	--shard "${INDEX}/${SHARDS}" --out "$RESULTS/study"
