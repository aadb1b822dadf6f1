#!/usr/bin/env bash
# Side-by-side speed of esp (GoMLX, Go backend) and the PyTorch peer on this machine.
#
# Runs the Go benchmarks and bench/torch_peer.py alternately, ROUNDS times, so that both
# see the same machine load; reports the median of each. Prints progress to stderr and,
# last on stdout, one JSON line per measurement:
#   {"model":..., "esp_ms_per_step":..., "torch_ms_per_step":..., "ratio":...}
# ratio = esp / torch (below 1: esp is faster).
#
#   bench/compare.sh [ROUNDS]     (default 3; ESP_DATA_DIR for the epoch benchmark's MNIST)
set -euo pipefail
cd "$(dirname "$0")/.."
export GOEXPERIMENT=simd GOFLAGS=-mod=mod
rounds=${1:-3}
python=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "building the Go benchmarks" >&2
go test -c -o "$work/bench.test" ./bench

go_ms() { # benchmark regexp, count -> ms per step (ns/op of a step benchmark, or the metric ms/step)
	"$work/bench.test" -test.run '^$' -test.bench "$1" -test.benchtime "$2" 2>/dev/null |
		awk '/^Benchmark/ { for (i = 1; i <= NF; i++) if ($(i) == "ms/step") { print $(i-1); exit } }'
}
torch_ms() {
	"$python" bench/torch_peer.py "$@" | "$python" -c 'import json,sys; print(json.load(sys.stdin)["torch_ms_per_step"])'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A esp torch
names=(mlp lenet mlp-corrupted-epoch)
for r in $(seq "$rounds"); do
	echo "round $r of $rounds" >&2
	esp[mlp]+="$(go_ms 'BenchmarkTrainStep/mlp$' 200x) "
	torch[mlp]+="$(torch_ms step --model mlp --steps 200) "
	esp[lenet]+="$(go_ms 'BenchmarkTrainStep/lenet$' 20x) "
	torch[lenet]+="$(torch_ms step --model lenet --steps 20) "
	esp[mlp-corrupted-epoch]+="$(go_ms 'BenchmarkCorruptedEpoch$' 1x) "
	torch[mlp-corrupted-epoch]+="$(torch_ms epoch) "
done
for name in "${names[@]}"; do
	e=$(tr ' ' '\n' <<<"${esp[$name]}" | grep . | median)
	t=$(tr ' ' '\n' <<<"${torch[$name]}" | grep . | median)
	echo "$name: esp ${esp[$name]}| torch ${torch[$name]}" >&2
	"$python" -c 'import json,sys; e,t=float(sys.argv[2]),float(sys.argv[3]); print(json.dumps({"model":sys.argv[1],"esp_ms_per_step":e,"torch_ms_per_step":t,"ratio":round(e/t,2)}))' "$name" "$e" "$t"
done
