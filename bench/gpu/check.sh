#!/usr/bin/env bash
# GPU check of esp's XLA backend, for a machine with an NVIDIA GPU, PyTorch and JAX's CUDA
# PJRT plugin (pip package jax-cuda13-pjrt) but no Go. Prepare the bundle where Go is:
#
#   make gpu-bundle          # out/gpu/: esp built with -tags xla, MNIST's four .gz files
#
# then, on the GPU machine, from the repository root (with out/gpu copied there):
#
#   bench/gpu/check.sh       # ~5 minutes
#
# It finds the plugin, trains the MLP and LeNet on MNIST for one epoch on xla:cuda and on
# the Go backend (step times, accuracies), times `esp run` of corrupted MLP runs (the paper's
# protocol: 11 epochs on corrupted MNIST) with several concurrent runs and with the runs
# trained as one ensemble (--ensemble: one compiled graph for 8 runs), and the PyTorch peer
# doing the same run on the same GPU. Progress goes to stderr; the figures to stdout as JSON
# lines, each as soon as it is measured, so that a run cut short by a time limit keeps them.
#
# ESP_GPU_CHECK_BACKEND=go and ESP_GPU_CHECK_RUNS=N rehearse the script on a CPU.
set -euo pipefail
cd "$(dirname "$0")/../.."
bundle=${ESP_GPU_BUNDLE:-out/gpu}
esp="$bundle/esp"
backend=${ESP_GPU_CHECK_BACKEND:-xla:cuda}
runs=${ESP_GPU_CHECK_RUNS:-8}
epochs=${ESP_GPU_CHECK_EPOCHS:-11}
ensembles=${ESP_GPU_CHECK_ENSEMBLES:-1x8} # WORKERSxENSEMBLE configurations, tried before 8, 4, 1 workers
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export ESP_DATA_DIR="$work/data"
results="$work/results.jsonl"
log() { echo "[gpu-check] $*" >&2; }
emit() { echo "$1" | tee -a "$results"; }

[ -x "$esp" ] || { echo "no $esp: run make gpu-bundle where Go is, and copy out/gpu here" >&2; exit 2; }
if [ "$backend" != "${backend#xla:cuda}" ]; then
	nvidia-smi -L >&2 || { echo "no NVIDIA GPU (nvidia-smi failed)" >&2; exit 2; }
	if [ -z "${PJRT_PLUGIN_LIBRARY_PATH:-}" ]; then
		# JAX's CUDA plugin: jax_plugins/xla_cuda13/xla_cuda_plugin.so in site-packages.
		dir=$("$python" -c 'import os, jax_plugins.xla_cuda13 as p; print(os.path.dirname(p.__file__))' 2>/dev/null ||
			dirname "$(find / -name xla_cuda_plugin.so -print -quit 2>/dev/null)")
		export PJRT_PLUGIN_LIBRARY_PATH=$dir
	fi
	log "PJRT plugin folder: $PJRT_PLUGIN_LIBRARY_PATH"
	ls "$PJRT_PLUGIN_LIBRARY_PATH" >&2
fi
"$esp" version >&2
"$esp" data fetch mnist --from "$bundle/mnist" >&2

# metric FILE FIELD: FIELD of the last line of a metrics.jsonl.
metric() { tail -1 "$1" | "$python" -c "import json,sys; print(json.load(sys.stdin)['$2'])"; }

# One epoch per model and backend: the second epoch's time excludes compilation.
for model in mlp lenet; do
	for b in $(printf '%s\n' "$backend" go | awk '!seen[$0]++'); do # the GPU backend, then the Go one
		subset=0
		[ "$b" = go ] && [ "$model" = lenet ] && subset=5000 # the CPU LeNet: a subset
		log "train $model on $b (2 epochs, subset $subset)"
		out="$work/train-$model-${b//[:\/]/_}"
		"$esp" train --dataset mnist --model "$model" --epochs 2 --subset "$subset" --backend "$b" --out "$out" >&2
		secs=$(metric "$out/metrics.jsonl" epoch_seconds)
		steps=$(( (subset > 0 ? subset : 60000) / 128 + ((subset > 0 ? subset : 60000) % 128 > 0) ))
		acc=$(metric "$out/metrics.jsonl" test_acc)
		ms=$("$python" -c "print(round(1000 * $secs / $steps, 3))")
		emit "{\"check\":\"train\",\"model\":\"$model\",\"backend\":\"$b\",\"ms_per_step\":$ms,\"epoch_seconds\":$secs,\"test_acc\":$acc}"
	done
done

# The paper's MLP protocol: corrupted runs of $epochs epochs, W at a time, each alone
# ("W") or E runs per compiled graph ("WxE", esp run --ensemble E).
for config in $ensembles 8 4 1; do # the one-at-a-time run, likely the slowest, last
	workers=${config%x*} ensemble=1
	[ "$config" != "$workers" ] && ensemble=${config#*x}
	[ "$workers" -gt "$runs" ] && continue
	log "esp run: $runs corrupted MLP runs, $epochs epochs, $workers at a time, ensembles of $ensemble"
	start=$(date +%s.%N)
	"$esp" run --dataset mnist --model mlp --kinds corrupted --runs "$runs" --epochs "$epochs" \
		--workers "$workers" --ensemble "$ensemble" --backend "$backend" --out "$work/run-$config" >&2
	secs=$("$python" -c "import time; print(round(time.time() - $start, 1))")
	rate=$("$python" -c "print(round(3600 * $runs / $secs, 1))")
	emit "{\"check\":\"esp-run\",\"backend\":\"$backend\",\"workers\":$workers,\"ensemble\":$ensemble,\"runs\":$runs,\"epochs\":$epochs,\"seconds\":$secs,\"runs_per_hour\":$rate,\"paper_mlp_protocol_hours\":$("$python" -c "print(round(400 / $rate, 2))")}"
done

# The PyTorch peer: the same run (corrupted MNIST, MLP, Adam, batch 128, per-epoch evaluation).
device=cuda
[ "$backend" = go ] && device=cpu
log "PyTorch peer on $device: one run of $epochs epochs"
"$python" bench/torch_peer.py epoch --device "$device" --epochs "$epochs" --eval --threads 4 --data-dir "$ESP_DATA_DIR" >"$work/torch.json"
cat "$work/torch.json" >&2
torch_secs=$("$python" -c "import json; print(json.load(open('$work/torch.json'))['torch_run_seconds'])")
torch_rate=$("$python" -c "print(round(3600 / $torch_secs, 1))")
best=$(grep '"esp-run"' "$results" | "$python" -c "import json,sys; print(max(json.loads(l)['runs_per_hour'] for l in sys.stdin))")
emit "{\"check\":\"peer\",\"device\":\"$device\",\"torch_run_seconds\":$torch_secs,\"torch_runs_per_hour\":$torch_rate,\"esp_best_runs_per_hour\":$best,\"ratio_esp_over_torch\":$("$python" -c "print(round($best / $torch_rate, 2))")}"

