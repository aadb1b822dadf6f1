// Package bench holds esp's speed benchmarks, written against the public API of
// experiment, models, corrupt and datasets only, and their PyTorch peer
// (torch_peer.py). It has no library code: everything is in its tests.
//
// # Benchmarks
//
//   - BenchmarkTrainStep/mlp, BenchmarkTrainStep/lenet: one training step (batch 128,
//     Adam, random 28x28x1 inputs) on the Go backend, data feeding excluded, through
//     experiment.Stepper.
//   - BenchmarkCorruptedEpoch: one epoch of corrupted MNIST (wrong-uniform, paper copies:
//     130k examples) with the MLP through experiment.Train; the time excludes the
//     evaluations. It needs MNIST in the cache (ESP_DATA_DIR or ~/.cache/esp) and is
//     skipped otherwise; it never downloads.
//
// Each reports ms/step (wall clock). The step benchmarks also report cpu-ms/step (the
// process's CPU time, where the platform reports it: steadier than the wall clock on a
// shared machine, though it adds up the backend's parallel workers); the epoch
// benchmark also reports s/epoch.
//
// # Comparing with PyTorch
//
// bench/compare.sh runs these benchmarks and torch_peer.py alternately, so both see the
// same machine load, and prints one JSON line per measurement with the ratio esp/torch:
//
//	bench/compare.sh [ROUNDS]
//
// Build with GOEXPERIMENT=simd (compare.sh does): the Go backend's matmul is several
// times slower without it.
package bench
