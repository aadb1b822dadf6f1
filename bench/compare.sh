#!/usr/bin/env bash
# Side-by-side speed of esp (GoMLX, Go backend) and the PyTorch peer on this machine.
#
# Runs the Go benchmarks and bench/torch_peer.py alternately, ROUNDS times, so that both
# see the same machine load; reports the median of each (training steps, exact
# Hessian-vector products, a corrupted-MNIST epoch, the MLP's matrix products). Then the
# whole protocol: RUNS corrupted-MNIST MLP runs of EPOCHS epochs with `esp run` (1 worker
# on all cores, and one worker per core) and with the peer (one process with as many
# threads as cores, and one single-thread process per core), the best split of each; and
# the peak RSS of one such run. Prints progress to stderr and, last on stdout, one JSON
# line per measurement:
#   {"model":..., "esp_ms_per_step":..., "torch_ms_per_step":..., "ratio":..., ...}
#   {"hvp":..., "esp_ms_per_product":..., "torch_ms_per_product":..., "ratio":..., ...}
#   {"matmul":..., "esp_gflops":..., "torch_gflops":..., "ratio":...}   (the MLP's products, one core)
#   {"protocol":..., "runs":..., "epochs":..., "esp_runs_per_hour":..., "torch_runs_per_hour":..., "ratio":..., ...}
#   {"memory":..., "esp_peak_rss_mb":..., "torch_peak_rss_mb":..., "ratio":...}
# ratio = esp / torch for times and memory (below 1: esp is faster or smaller), and
# torch / esp for runs per hour (below 1: esp does more). The step lines also carry
# esp's CPU time per step and its one-core time (the peer runs on one thread); the hvp
# lines, one per model, the same per product (one exact H·v of the mean cross-entropy
# over one batch of 250 random images, MNIST-shaped, CIFAR-10-shaped for the ResNet:
# BenchmarkHessianVectorProduct, torch_peer.py hvp).
#
#   bench/compare.sh [ROUNDS]     (default 3)
#   ESP_COMPARE_RUNS (default 8), ESP_COMPARE_EPOCHS (default 1; the paper's is 11),
#   ESP_COMPARE_PROTOCOL=0 skips the protocol and memory part; ESP_DATA_DIR for MNIST.
set -euo pipefail
cd "$(dirname "$0")/.."
GOTOOLCHAIN=$(sed -n 's/^toolchain //p' go.mod) # GoMLX needs Go 1.27, fetched by the go command
export GOEXPERIMENT=simd GOFLAGS=-mod=mod GOTOOLCHAIN
rounds=${1:-3}
runs=${ESP_COMPARE_RUNS:-8}
epochs=${ESP_COMPARE_EPOCHS:-1}
cores=$(nproc)
python=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "building the Go benchmarks" >&2
go test -c -o "$work/bench.test" ./bench

go_bench() { # benchmark regexp, count -> its result lines
	"$work/bench.test" -test.run '^$' -test.bench "$1" -test.benchtime "$2" 2>/dev/null | grep '^Benchmark'
}
metric() { # metric name (ms/step, cpu-ms/step, ms/product, GFLOPS) -> its value in the result line on stdin
	awk -v m="$1" '{ for (i = 1; i <= NF; i++) if ($(i) == m) { print $(i-1); exit } }'
}
go_metric() { go_bench "$1" "$2" | metric "$3"; } # benchmark regexp, count, metric name
go_record() { # key, benchmark regexp, count, unit: records its wall and CPU ms/unit in esp[key], cpu[key]
	local out
	out=$(go_bench "$2" "$3")
	esp[$1]+="$(metric "ms/$4" <<<"$out") "
	cpu[$1]+="$(metric "cpu-ms/$4" <<<"$out") "
}
go_step() { go_record "$1" "BenchmarkTrainStep/$1\$" "$2" step; }                   # step benchmark name, count
go_hvp() { go_record "hvp-$1" "BenchmarkHessianVectorProduct/$1\$" "$2" product; } # hvp benchmark name, count
json_field() { "$python" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; } # key -> value in the JSON on stdin
torch_ms() { "$python" bench/torch_peer.py "$@" | json_field torch_ms_per_step; }
torch_hvp_ms() { "$python" bench/torch_peer.py hvp "$@" | json_field torch_ms_per_product; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A esp cpu torch gflops
names=(mlp lenet mlp-corrupted-epoch)
for r in $(seq "$rounds"); do
	echo "round $r of $rounds" >&2
	go_step mlp 200x
	go_step mlp-1thread 200x
	torch[mlp]+="$(torch_ms step --model mlp --steps 200) "
	go_step lenet 20x
	go_step lenet-1thread 10x
	torch[lenet]+="$(torch_ms step --model lenet --steps 20) "
	go_hvp mlp 50x
	go_hvp mlp-1thread 50x
	torch[hvp-mlp]+="$(torch_hvp_ms --model mlp --steps 50) "
	go_hvp lenet 5x
	go_hvp lenet-1thread 3x
	torch[hvp-lenet]+="$(torch_hvp_ms --model lenet --steps 5 --warmup 2) "
	go_hvp resnet 2x
	go_hvp resnet-1thread 2x
	torch[hvp-resnet]+="$(torch_hvp_ms --model resnet --steps 2 --warmup 1) "
	esp[mlp-corrupted-epoch]+="$(go_metric 'BenchmarkCorruptedEpoch$' 1x ms/step) "
	torch[mlp-corrupted-epoch]+="$(torch_ms epoch) "
	for p in forward weight-gradient; do
		gflops[esp-$p]+="$(go_metric "BenchmarkMatmul/$p\$" 100x GFLOPS) "
		gflops[torch-$p]+="$("$python" bench/torch_peer.py matmul --product "$p" --steps 100 | json_field torch_gflops) "
	done
done
med() { # space-separated values -> their median, or nothing
	local v
	v=$(tr ' ' '\n' <<<"$1" | grep . || true)
	if [ -n "$v" ]; then median <<<"$v"; fi
}
# time_line KIND NAME UNIT KEY: the JSON line of one timing's medians, {KIND: NAME,
# "esp_ms_per_UNIT", "torch_ms_per_UNIT", "ratio", and where measured esp's CPU time and
# one-core time, with its ratio}, from the rounds recorded under KEY.
time_line() {
	local kind=$1 name=$2 unit=$3 key=$4
	echo "$key: esp ${esp[$key]}| cpu ${cpu[$key]:-}| 1 thread ${esp[$key-1thread]:-}| torch ${torch[$key]}" >&2
	"$python" -c '
import json, sys
kind, name, unit, e, t, c, one = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]), sys.argv[6], sys.argv[7]
line = {kind: name, "esp_ms_per_" + unit: e, "torch_ms_per_" + unit: t, "ratio": round(e / t, 2)}
if c:
    line["esp_cpu_ms_per_" + unit] = float(c)
if one:
    line["esp_1thread_ms_per_" + unit] = float(one)
    line["ratio_1thread"] = round(float(one) / t, 2)
print(json.dumps(line))' "$kind" "$name" "$unit" "$(med "${esp[$key]}")" "$(med "${torch[$key]}")" \
		"$(med "${cpu[$key]:-}")" "$(med "${esp[$key-1thread]:-}")"
}
lines=()
for name in "${names[@]}"; do
	lines+=("$(time_line model "$name" step "$name")")
done
for name in mlp lenet resnet; do
	lines+=("$(time_line hvp "$name" product "hvp-$name")")
done

for p in forward weight-gradient; do # one core each; ratio = esp time / torch time
	echo "matmul $p: esp ${gflops[esp-$p]}| torch ${gflops[torch-$p]} GFLOPS" >&2
	lines+=("$("$python" -c '
import json, sys
e, t = float(sys.argv[2]), float(sys.argv[3])
print(json.dumps({"matmul": sys.argv[1], "esp_gflops": e, "torch_gflops": t, "ratio": round(t / e, 2)}))' \
		"$p" "$(med "${gflops[esp-$p]}")" "$(med "${gflops[torch-$p]}")")")
done

if [ "${ESP_COMPARE_PROTOCOL:-1}" != 0 ]; then
	echo "building esp" >&2
	go build -o "$work/esp" ./esp
	seconds() { # command... -> wall seconds (its output discarded; a failure stops the script)
		local t0 t1
		t0=$(date +%s.%N)
		"$@" >"$work/last.log" 2>&1 || { cat "$work/last.log" >&2; exit 1; }
		t1=$(date +%s.%N)
		awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }'
	}
	esp_study() { # workers -> seconds for the RUNS corrupted runs
		seconds "$work/esp" run --dataset mnist --model mlp --kinds corrupted --runs "$runs" --epochs "$epochs" \
			--workers "$1" --out "$work/study-$1"
	}
	torch_processes() { # processes: RUNS runs split over them, cores/processes threads each
		local p=$1 pids=() i
		for i in $(seq 0 $((p - 1))); do
			"$python" bench/torch_peer.py epoch --eval --epochs "$epochs" --runs $(((runs + p - 1 - i) / p)) \
				--seed $((1 + 100 * i)) --threads $((cores / p)) >"$work/torch-$p-$i.json" &
			pids+=($!)
		done
		for i in "${pids[@]}"; do wait "$i"; done
	}
	torch_split() { seconds torch_processes "$1"; } # processes -> seconds
	echo "protocol: $runs corrupted MLP runs of $epochs epoch(s), esp with 1 and $cores workers" >&2
	esp_one=$(esp_study 1)
	esp_all=$(esp_study "$cores")
	echo "protocol: the peer as 1 process x $cores threads and $cores processes x 1 thread" >&2
	torch_one=$(torch_split 1)
	torch_all=$(torch_split "$cores")
	echo "protocol seconds: esp $esp_one (1 worker), $esp_all ($cores workers); torch $torch_one (1 process), $torch_all ($cores processes)" >&2
	lines+=("$("$python" -c '
import json, sys
runs, epochs, cores = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
esp = {"1 worker x %d threads" % cores: float(sys.argv[4]), "%d workers x 1 thread" % cores: float(sys.argv[5])}
torch = {"1 process x %d threads" % cores: float(sys.argv[6]), "%d processes x 1 thread" % cores: float(sys.argv[7])}
es, ts = min(esp, key=esp.get), min(torch, key=torch.get)
rate = lambda s: round(runs * 3600 / s, 1)
print(json.dumps({"protocol": "mlp-corrupted-mnist", "runs": runs, "epochs": epochs,
                  "esp_runs_per_hour": rate(esp[es]), "esp_split": es,
                  "torch_runs_per_hour": rate(torch[ts]), "torch_split": ts,
                  "ratio": round(esp[es] / torch[ts], 2),
                  "esp_seconds": esp, "torch_seconds": torch}))' \
		"$runs" "$epochs" "$cores" "$esp_one" "$esp_all" "$torch_one" "$torch_all")")

	echo "memory: peak RSS of one corrupted MLP run of $epochs epoch(s)" >&2
	/usr/bin/time -f %M -o "$work/esp.rss" "$work/esp" train --dataset mnist --model mlp --corrupt wrong-uniform \
		--epochs "$epochs" --out "$work/memory" >/dev/null 2>&1
	/usr/bin/time -f %M -o "$work/torch.rss" "$python" bench/torch_peer.py epoch --eval --epochs "$epochs" >/dev/null
	lines+=("$("$python" -c '
import json, sys
e, t = int(sys.argv[1]) / 1024, int(sys.argv[2]) / 1024
print(json.dumps({"memory": "mlp-corrupted-mnist-run", "esp_peak_rss_mb": round(e), "torch_peak_rss_mb": round(t), "ratio": round(e / t, 2)}))' \
		"$(tail -1 "$work/esp.rss")" "$(tail -1 "$work/torch.rss")")")
fi
printf '%s\n' "${lines[@]}"
