#!/usr/bin/env bash
# GPU check of esp's XLA backend, for a machine with an NVIDIA GPU, PyTorch and JAX's CUDA
# PJRT plugin (pip package jax-cuda13-pjrt) but no Go. Prepare the bundle where Go is:
#
#   make gpu-bundle          # out/gpu/: esp built with -tags xla, MNIST's four .gz files
#
# then, on the GPU machine, from the repository root (with out/gpu copied there):
#
#   bench/gpu/check.sh       # 5-8 minutes
#
# In order, most telling first:
#   1. backend: loads the plugin and checks it (esp version --backend: LeNet's loss and
#      gradient on the GPU against the Go backend's), and names the device;
#   2. train: the MLP and LeNet on MNIST, 2 epochs each on xla:cuda and on the Go backend
#      (the second epoch's step time; the first epoch's time, which includes compiling
#      the training step; accuracies), and the MLP again with 16 steps per call of its
#      training graph (--steps-per-call 16);
#   3. peer: PyTorch on the same GPU doing the paper's corrupted MLP runs, 1 and 8
#      processes at once, each ROUNDS runs one after the other, with TF32 matmuls as
#      GoMLX's XLA backend has on CUDA (PyTorch's own default is full float32);
#   4. esp-run: `esp run` of the same corrupted MLP runs, W runs at a time ("W"), in
#      compiled ensembles of E runs ("WxE", --ensemble E), with S steps per call ("WsS",
#      --steps-per-call S) or in P processes of one run at a time ("Pp", shards I/P of one
#      study), each configuration ROUNDS*W*E (ROUNDS*P) runs (at least 2), so that every
#      worker trains ROUNDS runs (or ensembles) one after the other, as in a study; the
#      line gives the mean seconds of a worker's first run (graphs compiled) and of its
#      later ones (graphs reused);
#   5. resume: an ensemble of 4 runs interrupted once every member has a checkpoint and
#      run again: whether each resumed, and ends byte for byte where the runs in one go
#      end (on CUDA with XLA's deterministic ops);
#   6. sharpness: exact Hessian-vector products (the gradient differentiated again) on the
#      backend: the top eigenvalue and trace of the Hessian at the LeNet trained in step 2,
#      on the backend and on the Go backend, and the milliseconds per product;
#   7. summary: the best runs/hour of each, their ratio, and the hours the paper's MLP
#      protocol (200 normal + 200 corrupted runs of 50 epochs, as the authors' MLP script
#      trains, and the probes' point of 350, as theirs; esp reproduce --scale paper does the
#      same; ESP_GPU_CHECK_PAPER_EPOCHS, _POINT_EPOCHS) would take at that rate, scaled
#      from the measured epochs (an upper bound: a normal run sees 60,000 examples an
#      epoch, a corrupted one 130,000).
# A step that fails prints an "error" line and the script goes on (a plugin that does not
# load still leaves the Go and PyTorch figures; its missing libraries are listed, and it is
# tried once more with the NVIDIA pip packages on LD_LIBRARY_PATH); the exit code is then 1. Steps that would
# start after ESP_GPU_CHECK_BUDGET seconds (default 420) are skipped, and a step still
# running 120 s past it is stopped (SIGTERM, which esp takes as Ctrl-C; SIGKILL 30 s
# later), so that the script ends inside a device's time limit.
# Where nvidia-smi is, the train, peer and esp-run lines also give GPU 0's mean and peak
# utilization and peak memory while the step ran (sampled every 200 ms): whether the runs
# fill the GPU. Progress goes to stderr; the figures to stdout as JSON lines, each as soon
# as it is measured, so that a run cut short keeps them.
#
# ESP_GPU_CHECK_BACKEND=go rehearses the script on a CPU (the peer then runs on the CPU);
# ESP_GPU_CHECK_SUBSET=N trains every esp model on the first N examples of each split, for
# a quicker rehearsal (bench's TestGPUCheckScript); ESP_GPU_CHECK_PEERS="" skips PyTorch;
# ESP_GPU_CHECK_ROUNDS (default 2) is the number of runs per worker or PyTorch process.
set -uo pipefail
cd "$(dirname "$0")/../.."
bundle=${ESP_GPU_BUNDLE:-out/gpu}
esp="$bundle/esp"
backend=${ESP_GPU_CHECK_BACKEND:-xla:cuda}
epochs=${ESP_GPU_CHECK_EPOCHS:-11}                 # epochs of each timed run
paper_epochs=${ESP_GPU_CHECK_PAPER_EPOCHS:-50}     # the authors' MLP runs: 50 epochs
point_epochs=${ESP_GPU_CHECK_POINT_EPOCHS:-350}    # and the probes' point: one run of 350
configs=${ESP_GPU_CHECK_CONFIGS-1 1s16 8p 8s16 8 1x8 4x8} # esp run: W, Pp, WxENSEMBLE or WsSTEPS_PER_CALL
peers=${ESP_GPU_CHECK_PEERS-1 8}                  # PyTorch processes at once
rounds=${ESP_GPU_CHECK_ROUNDS:-2}                 # runs per worker or process, one after the other
budget=${ESP_GPU_CHECK_BUDGET:-420}
only=${ESP_GPU_CHECK_SUBSET:-0}
python=${PYTHON:-python3}
work=$(mktemp -d)
watch_pid=
trap '[ -n "$watch_pid" ] && kill "$watch_pid" 2>/dev/null; rm -rf "$work"' EXIT
export ESP_DATA_DIR="$work/data"
results="$work/results.jsonl"
started=$(date +%s)
failed=0
log() { echo "[gpu-check $(($(date +%s) - started))s] $*" >&2; }

# emit KEY=VALUE...: one JSON line of the figures (values that parse as JSON stay numbers).
emit() {
	"$python" -c '
import json, sys
d = {}
for a in sys.argv[1:]:
    k, v = a.split("=", 1)
    try:
        d[k] = json.loads(v)
    except ValueError:
        d[k] = v
print(json.dumps(d), flush=True)' "$@" | tee -a "$results"
}

# fail CHECK LOGFILE KEY=VALUE...: an error line with the last lines the step printed.
fail() {
	local check=$1 logfile=$2
	shift 2
	failed=1
	tail -30 "$logfile" >&2
	emit check="$check" "$@" error="$(tail -5 "$logfile" | tr '\n' ' ')"
}

# in_budget NAME: whether there is time left to start step NAME.
in_budget() {
	if (($(date +%s) - started >= budget)); then
		log "skipped $1: past the ${budget}s budget"
		emit check=skipped step="$1" budget_seconds="$budget"
		return 1
	fi
}

# limit: the seconds a step may still run (until 120 s past the budget).
limit() { echo $((started + budget + 120 - $(date +%s))); }

# gpu_watch_start: samples GPU 0's utilization (%) and memory in use (MiB) every 200 ms, in the
# background, while a step runs (where nvidia-smi is); gpu_watch_stop ends it and prints the
# step's figures as KEY=VALUE words for emit: mean and peak utilization, peak memory.
gpu_watch_start() {
	watch_pid=
	command -v nvidia-smi >/dev/null || return 0
	nvidia-smi -i 0 --query-gpu=utilization.gpu,memory.used --format=csv,noheader,nounits -lms 200 >"$work/gpu-watch.csv" 2>/dev/null &
	watch_pid=$!
}
gpu_watch_stop() {
	[ -n "$watch_pid" ] || return 0
	kill "$watch_pid" 2>/dev/null
	wait "$watch_pid" 2>/dev/null
	"$python" -c '
import sys
rows = []
for line in open(sys.argv[1]):
    try:
        rows.append([float(v) for v in line.split(",")[:2]])
    except ValueError:
        pass
if rows:
    util = [r[0] for r in rows]
    print("gpu_util_mean=%.1f gpu_util_max=%.0f gpu_mem_max_mib=%.0f gpu_samples=%d" % (sum(util) / len(util), max(util), max(r[1] for r in rows), len(rows)))' "$work/gpu-watch.csv"
}

# wait_all PID...: waits for every process; sets first_failed to the position (0-based) of
# the first that failed, empty if none did. (A function, not $(...): a subshell cannot
# wait for its parent's children.)
wait_all() {
	local i=0 pid
	first_failed=
	for pid; do
		wait "$pid" || first_failed=${first_failed:-$i}
		i=$((i + 1))
	done
}

py() { "$python" -c "$1"; }
# metric FILE FIELD [LINE]: FIELD of a metrics.jsonl's last line, or of line LINE (0: epoch 0).
metric() { "$python" -c "import json,sys; print(json.loads(open('$1').read().splitlines()[${3:--1}])['$2'])"; }
# rate RUNS SECONDS: runs per hour.
rate() { py "print(round(3600 * $1 / $2, 1))"; }

[ -x "$esp" ] || { echo "no $esp: run make gpu-bundle where Go is, and copy out/gpu here" >&2; exit 2; }
device=cpu tf32=
if [ "$backend" != "${backend#xla:cuda}" ]; then
	device=cuda tf32=--tf32
	nvidia-smi -L >&2 || { echo "no NVIDIA GPU (nvidia-smi failed)" >&2; exit 2; }
	if [ -z "${PJRT_PLUGIN_LIBRARY_PATH:-}" ]; then
		# JAX's CUDA plugin: jax_plugins/xla_cuda13/xla_cuda_plugin.so in site-packages.
		dir=$("$python" -c 'import os, jax_plugins.xla_cuda13 as p; print(os.path.dirname(p.__file__))' 2>/dev/null ||
			dirname "$(find / -name xla_cuda_plugin.so -print -quit 2>/dev/null)")
		export PJRT_PLUGIN_LIBRARY_PATH=$dir
	fi
	log "PJRT plugin folder: $PJRT_PLUGIN_LIBRARY_PATH"
	ls -l "$PJRT_PLUGIN_LIBRARY_PATH" >&2
fi
"$esp" data fetch mnist --from "$bundle/mnist" >&2 || exit 2

# 1. The backend loads, compiles and computes what the Go backend does.
# check_backend KEY=VALUE...: esp version --backend, as a backend line with these figures
# as well; sets backend_ok.
check_backend() {
	log "esp version --backend $backend ${LD_LIBRARY_PATH:+(LD_LIBRARY_PATH=$LD_LIBRARY_PATH)}"
	if timeout -k 30 "$(limit)" "$esp" version --backend "$backend" >"$work/version.txt" 2>"$work/version.log"; then
		cat "$work/version.txt" >&2
		emit check=backend backend="$backend" ok=true "$@" \
			description="$(sed -n 's/^backend: //p' "$work/version.txt")" \
			device="$(sed -n 's/^device 0: //p' "$work/version.txt")" \
			result="$(sed -n 's/^check: //p' "$work/version.txt")"
		backend_ok=1
	else
		cat "$work/version.txt" "$work/version.log" >&2
		fail backend "$work/version.log" backend="$backend" ok=false "$@"
		backend_ok=0
	fi
}
check_backend

# A plugin that does not load: the libraries it needs that the loader does not find (ldd),
# then one more try with the NVIDIA pip packages' folders on LD_LIBRARY_PATH. (esp loads
# those libraries itself, as JAX does; a second line with ok=true says that was not enough.)
if [ "$backend_ok" = 0 ] && [ "$backend" != "${backend#xla:}" ]; then
	plugin=${backend#xla:}
	plugin=${plugin%%,*}
	if [ "${plugin#/}" = "$plugin" ]; then # a name: its file in PJRT_PLUGIN_LIBRARY_PATH's folders
		plugin=$( (
			IFS=:
			[ -n "${PJRT_PLUGIN_LIBRARY_PATH:-}" ] && find $PJRT_PLUGIN_LIBRARY_PATH -maxdepth 3 \
				\( -name "xla_${plugin}_plugin.so" -o -name "pjrt_c_api_${plugin}_plugin.so" \) -print -quit 2>/dev/null
		))
	fi
	exists=false missing=
	if [ -f "$plugin" ]; then
		exists=true
		missing=$(ldd "$plugin" 2>&1 | awk '/not found/ {print $1}' | paste -sd' ')
	fi
	emit check=plugin-libraries plugin="$plugin" exists="$exists" missing="$missing"
	nvidia=
	[ "$exists" = true ] && nvidia=$(ls -d "$(dirname "$(dirname "$(dirname "$plugin")")")"/nvidia/*/lib 2>/dev/null | paste -sd:)
	if [ -n "$nvidia" ]; then
		export LD_LIBRARY_PATH=$nvidia${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
		check_backend ld_library_path="$nvidia"
	fi
fi

# 2. Two epochs per model and backend: the GPU backend's (if it works), then the Go one's;
# "mlp:16" is the MLP with 16 steps per call.
train_backends=go
[ "$backend" != go ] && [ "$backend_ok" = 1 ] && train_backends="$backend go"
for config in mlp mlp:16 lenet; do
	model=${config%:*} per_call=1
	[ "$config" != "$model" ] && per_call=${config#*:}
	for b in $train_backends; do
		in_budget "train $config $b" || continue
		subset=$only
		[ "$b" = go ] && [ "$model" = lenet ] && [ "$subset" = 0 ] && subset=5000 # the CPU LeNet: a subset
		examples=$((subset > 0 ? subset : 60000))
		log "train $model on $b (2 epochs, $examples examples, $per_call steps per call)"
		out="$work/train-$model-$per_call-${b//[:\/]/_}"
		gpu_watch_start
		if ! timeout -k 30 "$(limit)" "$esp" train --dataset mnist --model "$model" --epochs 2 --subset "$subset" --steps-per-call "$per_call" \
			--backend "$b" --out "$out" 2>"$out.log" >&2; then
			gpu_watch_stop >/dev/null
			fail train "$out.log" model="$model" backend="$b" steps_per_call="$per_call"
			continue
		fi
		gpu=$(gpu_watch_stop)
		secs=$(metric "$out/metrics.jsonl" epoch_seconds)
		steps=$(((examples + 127) / 128))
		emit check=train model="$model" backend="$b" steps_per_call="$per_call" examples="$examples" \
			ms_per_step="$(py "print(round(1000 * $secs / $steps, 3))")" epoch_seconds="$secs" \
			first_epoch_seconds="$(metric "$out/metrics.jsonl" epoch_seconds 1)" \
			train_acc="$(metric "$out/metrics.jsonl" train_acc)" test_acc="$(metric "$out/metrics.jsonl" test_acc)" $gpu
	done
done

# 3. The PyTorch peer: the same corrupted MLP run (Adam, batch 128, evaluation after every
# epoch), P processes at once, each $rounds runs.
for p in $peers; do
	in_budget "peer $p" || continue
	log "PyTorch peer on $device: $p processes, $rounds runs of $epochs epochs each"
	start=$(date +%s.%N)
	gpu_watch_start
	pids=()
	for i in $(seq 1 "$p"); do
		timeout -k 30 "$(limit)" "$python" bench/torch_peer.py epoch --device "$device" --epochs "$epochs" --runs "$rounds" --eval \
			--seed "$((i * rounds))" --threads 1 $tf32 \
			--data-dir "$ESP_DATA_DIR" >"$work/torch-$p-$i.json" 2>"$work/torch-$p-$i.log" &
		pids+=($!)
	done
	wait_all "${pids[@]}"
	secs=$(py "import time; print(round(time.time() - $start, 1))")
	gpu=$(gpu_watch_stop)
	if [ -n "$first_failed" ]; then
		fail peer "$work/torch-$p-$((first_failed + 1)).log" device="$device" processes="$p"
		continue
	fi
	cat "$work/torch-$p-1.json" >&2
	emit check=peer device="$device" tf32="$([ -n "$tf32" ] && echo true || echo false)" processes="$p" runs="$((p * rounds))" epochs="$epochs" seconds="$secs" \
		runs_per_hour="$(rate "$((p * rounds))" "$secs")" \
		torch_run_seconds="$(py "import json; print(json.load(open('$work/torch-$p-1.json'))['torch_run_seconds'])")" \
		test_acc="$(py "import json; print(json.load(open('$work/torch-$p-1.json')).get('test_acc'))")" $gpu
done

# 4. esp run: the paper's MLP protocol, corrupted runs of $epochs epochs.
if [ "$backend_ok" = 1 ]; then
	for config in $configs; do
		in_budget "esp run $config" || continue
		workers=${config%%[xsp]*} ensemble=1 per_call=1 processes=1
		case $config in
		*x*) ensemble=${config#*x} ;;
		*s*) per_call=${config#*s} ;;
		*p) processes=$workers workers=1 ;;
		esac
		runs=$((rounds * processes * workers * ensemble < 2 ? 2 : rounds * processes * workers * ensemble))
		log "esp run: $runs corrupted MLP runs of $epochs epochs, $processes processes of $workers workers, ensembles of $ensemble, $per_call steps per call"
		out="$work/run-$config"
		start=$(date +%s.%N)
		gpu_watch_start
		pids=()
		for i in $(seq 0 $((processes - 1))); do
			# P processes share the study as shards I/P, as a job array does.
			shard=()
			[ "$processes" -gt 1 ] && shard=(--shard "$i/$processes")
			timeout -k 30 "$(limit)" "$esp" run --dataset mnist --model mlp --kinds corrupted --runs "$runs" --epochs "$epochs" \
				--workers "$workers" --ensemble "$ensemble" --steps-per-call "$per_call" --subset "$only" --backend "$backend" \
				"${shard[@]}" --out "$out" 2>"$out.$i.log" >&2 &
			pids+=($!)
		done
		wait_all "${pids[@]}"
		secs=$(py "import time; print(round(time.time() - $start, 1))")
		gpu=$(gpu_watch_stop)
		if [ -n "$first_failed" ]; then
			fail esp-run "$out.$first_failed.log" backend="$backend" processes="$processes" workers="$workers" ensemble="$ensemble" steps_per_call="$per_call"
			continue
		fi
		# Runs go to the workers (and shards) in order: the first processes*workers*ensemble
		# are each worker's first.
		figures=$("$python" -c '
import glob, json, sys
first = int(sys.argv[2])
results = [json.load(open(f)) for f in sorted(glob.glob(sys.argv[1] + "/runs/*/result.json"))]
secs = [r["seconds"] for r in results]
mean = lambda v, d: round(sum(v) / len(v), d) if v else "null"
print(mean(secs[:first], 2), mean(secs[first:], 2), mean([r["final"]["test_acc"] for r in results], 4))' "$out" "$((processes * workers * ensemble))")
		read -r first_secs later_secs test_acc <<<"$figures"
		emit check=esp-run backend="$backend" processes="$processes" workers="$workers" ensemble="$ensemble" steps_per_call="$per_call" \
			runs="$runs" epochs="$epochs" seconds="$secs" runs_per_hour="$(rate "$runs" "$secs")" \
			first_run_seconds="$first_secs" later_run_seconds="$later_secs" test_acc="$test_acc" $gpu
	done
fi

# 5. Resumption on the backend: an ensemble of 4 corrupted MLP runs (5 epochs, 20 on a GPU,
# 6000 examples, or the rehearsal's subset) trained in one go, and again interrupted (SIGINT)
# once every member has a checkpoint, then run once more: how many runs resumed, and how many
# final weights are byte for byte those of the runs in one go (XLA's GPU ops made
# deterministic).
if [ "$backend_ok" = 1 ] && in_budget resume; then
	sub=$only
	[ "$sub" = 0 ] && sub=6000
	resume_epochs=5
	deterministic=false
	if [ "$device" = cuda ]; then
		export XLA_FLAGS="--xla_gpu_deterministic_ops=true${XLA_FLAGS:+ $XLA_FLAGS}"
		deterministic=true
		resume_epochs=20 # a GPU's epoch takes milliseconds: the 50 ms polls below must see the checkpoints before the end
	fi
	args=(run --dataset mnist --model mlp --kinds corrupted --runs 4 --ensemble 4 --epochs "$resume_epochs" --subset "$sub" --backend "$backend")
	whole="$work/resume-whole" cut="$work/resume-cut"
	log "resume: 4 corrupted MLP runs in an ensemble, in one go, then interrupted and resumed"
	if ! timeout -k 30 "$(limit)" "$esp" "${args[@]}" --out "$whole" 2>"$whole.log" >&2; then
		fail resume "$whole.log" backend="$backend"
	else
		timeout -k 30 "$(limit)" "$esp" "${args[@]}" --out "$cut" 2>"$cut.1.log" >&2 &
		pid=$!
		checkpoints=0
		while kill -0 "$pid" 2>/dev/null; do
			checkpoints=$(ls -d "$cut"/runs/.tmp-*/checkpoint-e* 2>/dev/null | wc -l)
			[ "$checkpoints" -ge 4 ] && break
			sleep 0.05
		done
		kill -INT "$pid" 2>/dev/null
		wait "$pid"
		interrupted_exit=$?
		if ! timeout -k 30 "$(limit)" "$esp" "${args[@]}" --out "$cut" 2>"$cut.2.log" >&2; then
			fail resume "$cut.2.log" backend="$backend" interrupted_exit="$interrupted_exit"
		else
			identical=0
			for run in "$whole"/runs/*/; do
				cmp -s "$run/final.safetensors" "$cut/runs/$(basename "$run")/final.safetensors" && identical=$((identical + 1))
			done
			resumed=$(sed -n 's/.*(\([0-9]*\) with a checkpoint to resume from).*/\1/p' "$cut.2.log")
			emit check=resume backend="$backend" runs=4 ensemble=4 epochs="$resume_epochs" deterministic_ops="$deterministic" \
				interrupted_exit="$interrupted_exit" checkpoints="$checkpoints" resumed="${resumed:-0}" identical="$identical" \
				test_acc="$(metric "$(ls -d "$cut"/runs/*/ | head -1)metrics.jsonl" test_acc)" \
				test_acc_in_one_go="$(metric "$(ls -d "$whole"/runs/*/ | head -1)metrics.jsonl" test_acc)"
		fi
	fi
fi

# 6. Exact Hessian-vector products (the gradient differentiated again, through the
# convolution written to be differentiated twice): the sharpness of the LeNet trained above
# on the backend, on the backend and on the Go backend from the same weights and the same
# 1000 images: the estimates of each (the same up to float32 rounding and where the Lanczos
# solver stops), and the milliseconds per product.
lenet_point="$work/train-lenet-1-${backend//[:\/]/_}"
if [ "$backend_ok" = 1 ] && [ -f "$lenet_point/final.safetensors" ]; then
	for b in $train_backends; do
		in_budget "sharpness $b" || continue
		out="$work/sharpness-${b//[:\/]/_}"
		log "sharpness of LeNet on $b (exact Hessian-vector products, 1000 images)"
		if ! timeout -k 30 "$(limit)" "$esp" probe sharpness --run "$lenet_point" --subset 1000 --iterations 10 --samples 4 --seed 1 \
			--backend "$b" --out "$out" 2>"$out.log" >&2; then
			fail sharpness "$out.log" model=lenet backend="$b"
			continue
		fi
		emit check=sharpness model=lenet backend="$b" $("$python" -c '
import json, sys
r = json.load(open(sys.argv[1] + "/sharpness.json"))
products = r["iterations"] + r["trace_samples"] + 1  # and the gradient at the point, about as costly
print("examples=%d top_eigenvalue=%.6g solver=%s converged=%s trace=%.6g trace_std=%.3g products=%d seconds=%.1f ms_per_product=%.1f" % (
    r["examples"], r["top_eigenvalue"], r["solver"], str(r["converged"]).lower(), r["trace"], r["trace_std"], products, r["seconds"],
    1000 * r["seconds"] / products))' "$out")
	done
fi

# 7. The best of each, and the ratio.
best() {
	"$python" -c "import json,sys; print(max([d['runs_per_hour'] for d in map(json.loads, sys.stdin) if d['check'] == '$1' and 'runs_per_hour' in d] or [0]))" <"$results"
}
# paper_hours RATE: hours of the paper's 400 MLP runs of $paper_epochs epochs and its probes'
# point ($point_epochs epochs) at RATE runs/hour of $epochs epochs.
paper_hours() { py "print(round((400 * $paper_epochs + $point_epochs) / $epochs / $1, 2) if $1 else 'null')"; }
esp_best=$(best esp-run)
torch_best=$(best peer)
[ "$only" != 0 ] && torch_best=0 # the peer trains on every example: no ratio to a subset
emit check=summary backend="$backend" device="$device" epochs="$epochs" subset="$only" esp_best_runs_per_hour="$esp_best" \
	torch_best_runs_per_hour="$torch_best" \
	ratio_esp_over_torch="$(py "print(round($esp_best / $torch_best, 2) if $torch_best else 'null')")" \
	paper_mlp_epochs="$paper_epochs" paper_mlp_point_epochs="$point_epochs" \
	paper_mlp_protocol_hours_esp="$(paper_hours "$esp_best")" \
	paper_mlp_protocol_hours_torch="$(paper_hours "$torch_best")" \
	failed="$([ "$failed" = 1 ] && echo true || echo false)" seconds="$(($(date +%s) - started))"
exit "$failed"
