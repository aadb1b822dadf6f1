// Package bench holds esp's speed benchmarks, written against the public API of
// experiment, models, corrupt and datasets only, and their PyTorch peer
// (torch_peer.py). It has no library code: everything is in its tests.
//
// # Benchmarks
//
//   - BenchmarkTrainStep/mlp, BenchmarkTrainStep/lenet: one training step (batch 128,
//     Adam, random 28x28x1 inputs) on the Go backend with its default parallelism (all
//     cores), data feeding excluded, through experiment.Stepper; mlp-1thread and
//     lenet-1thread: the same on one core, as the PyTorch peer runs.
//   - BenchmarkHessianVectorProduct/mlp, /lenet, /resnet: one exact Hessian-vector product
//     (experiment.Net.HessianVectorProduct: double backward, the model in the
//     models.Autodiff formulation) of the mean cross-entropy over 250 random images with
//     random labels (28x28x1; 32x32x3 for the ResNet, its default configuration), one
//     batch, along a random direction, with all cores; mlp-1thread, lenet-1thread and
//     resnet-1thread: on one core. torch_peer.py's hvp mode computes the same product by
//     torch.autograd.grad twice. Reports ms/product.
//   - BenchmarkMatmul/forward, BenchmarkMatmul/weight-gradient: the MLP step's two
//     large matrix products, in the layouts the models give them, on one core; reports
//     GFLOPS. torch_peer.py's matmul mode times the same products.
//   - BenchmarkCorruptedEpoch: one epoch of corrupted MNIST (wrong-uniform, paper copies:
//     130k examples) with the MLP through experiment.Train; the time excludes the
//     evaluations. It needs MNIST in the cache (ESP_DATA_DIR or ~/.cache/esp) and is
//     skipped otherwise; it never downloads.
//
// Each reports ms/step (wall clock; the Hessian-vector products ms/product). The step
// and product benchmarks also report cpu-ms/step or cpu-ms/product (the process's CPU
// time, where the platform reports it: steadier than the wall clock on a shared machine,
// though it adds up the backend's parallel workers); the epoch benchmark also reports
// s/epoch.
//
// # Comparing with PyTorch
//
// bench/compare.sh runs these benchmarks and torch_peer.py alternately, so both see the
// same machine load, and prints one JSON line per measurement with the ratio esp/torch:
//
//	bench/compare.sh [ROUNDS]
//
// It then times the whole protocol, ESP_COMPARE_RUNS (8) corrupted-MNIST MLP runs of
// ESP_COMPARE_EPOCHS (1) epochs, with `esp run` and with the peer, each in its best
// split of processes and threads over the machine's cores, and prints runs per hour;
// and the peak RSS of one such run of each (ESP_COMPARE_PROTOCOL=0 skips both).
//
// # The authors' MLP protocol
//
// authors_mlp_chain.py reimplements the authors' MLP script in PyTorch and runs its runs as
// a chain (--chain KIND:DATASET:EPOCHS,...), optionally on one shared model whose biases
// carry over from run to run as theirs did (--share); it prints each run's weight norms.
// The README's section on the authors' MLP norms quotes it.
//
// # The GPU check
//
// bench/gpu/check.sh measures a GPU machine that has no Go, from a bundle that `make
// gpu-bundle` prepares (its header says what it measures). TestGPUCheckScript rehearses it
// on the Go backend, without PyTorch, and with a plugin that does not load.
//
// Build with GOEXPERIMENT=simd (compare.sh does): the Go backend's matmul is several
// times slower without it.
package bench
