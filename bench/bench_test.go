package bench

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/extremepoints/esp/corrupt"
	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/experiment"
	"github.com/extremepoints/esp/models"
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// batchSize is the minibatch of every benchmark, as in the paper and torch_peer.py.
const batchSize = 128

// cpuClock measures the process's CPU time over a benchmark's timed loop.
type cpuClock struct {
	start time.Duration
	ok    bool
}

func startCPUClock() cpuClock {
	t, ok := processCPUTime()
	return cpuClock{start: t, ok: ok}
}

// report adds cpu-ms/UNIT (cpu-ms/step, cpu-ms/product): the CPU time since start
// divided by n, the units timed.
func (c cpuClock) report(b *testing.B, n int, unit string) {
	end, ok := processCPUTime()
	if !c.ok || !ok || n == 0 {
		return
	}
	b.ReportMetric(float64(end-c.start)/float64(time.Millisecond)/float64(n), "cpu-ms/"+unit)
}

// BenchmarkTrainStep measures one training step (batch 128, Adam, random 28x28x1
// inputs) of each model on the Go backend, with its default parallelism (all cores:
// "mlp", "lenet") and on one core ("mlp-1thread", "lenet-1thread", the PyTorch peer's
// setting); the first step, which compiles the graph, is not timed.
func BenchmarkTrainStep(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	images := make([]float32, batchSize*28*28)
	for i := range images {
		images[i] = rng.Float32()
	}
	labels := make([]int32, batchSize)
	for i := range labels {
		labels[i] = int32(rng.IntN(10))
	}
	forEachModelAndCores(b, []string{"mlp", "lenet"}, func(b *testing.B, backend compute.Backend, name string) {
		benchmarkStep(b, backend, name, images, labels)
	})
}

// forEachModelAndCores runs bench for each of the named models on the Go backend with its
// default parallelism (sub-benchmarks "mlp", "lenet", ...) and on one core ("mlp-1thread",
// "lenet-1thread", ..., the PyTorch peer's setting).
func forEachModelAndCores(b *testing.B, names []string, bench func(b *testing.B, backend compute.Backend, name string)) {
	for _, variant := range []struct{ suffix, backend string }{{"", "go"}, {"-1thread", "go:parallelism=1"}} {
		backend, err := experiment.NewBackend(variant.backend)
		if err != nil {
			b.Fatal(err)
		}
		for _, name := range names {
			b.Run(name+variant.suffix, func(b *testing.B) { bench(b, backend, name) })
		}
	}
}

// benchmarkStep times training steps of the named model on backend, on one batch
// (images, labels) fed again at every step.
func benchmarkStep(b *testing.B, backend compute.Backend, name string, images []float32, labels []int32) {
	net, err := experiment.NewNet(backend, name, models.Config{}, 28, 28, 1, 1)
	if err != nil {
		b.Fatal(err)
	}
	stepper, err := experiment.NewStepper(net, experiment.Settings{Model: name})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := stepper.Step(images, labels); err != nil { // compiles
		b.Fatal(err)
	}
	steps := 0
	cpu := startCPUClock()
	b.ResetTimer()
	for b.Loop() {
		if _, err := stepper.Step(images, labels); err != nil {
			b.Fatal(err)
		}
		steps++
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed())/float64(time.Millisecond)/float64(steps), "ms/step")
	cpu.report(b, steps, "step")
}

// hvpExamples is the size of BenchmarkHessianVectorProduct's split, and of torch_peer.py's
// hvp mode's batch: one batch, so that one product is one call of the graph. It is 250,
// not 256, because experiment caps the batch of its passes over a split at 250 for
// convolutional models on the Go backend: 256 examples would be two calls for LeNet, the
// second of 6 examples padded to 250 (1.5x the time of one).
const hvpExamples = 250

// BenchmarkHessianVectorProduct measures one exact Hessian-vector product,
// experiment.Net.HessianVectorProduct (the gradient of ⟨∇loss, v⟩, the model built with
// models.Autodiff), of the mean cross-entropy over hvpExamples random images with random
// labels, in one batch, along a random direction, for each model on the Go backend with
// its default parallelism ("mlp", "lenet", "resnet") and on one core ("mlp-1thread", ...);
// the first product, which compiles the graph, is not timed. The MLP and LeNet see
// 28x28x1 images (MNIST's), the ResNet (default configuration: 2 blocks a stage, 1x1
// shortcuts) 32x32x3 (CIFAR-10's), as in the paper.
func BenchmarkHessianVectorProduct(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	splits := map[string]*datasets.Split{"mlp": randomSplit(rng, 28, 28, 1), "lenet": randomSplit(rng, 28, 28, 1),
		"resnet": randomSplit(rng, 32, 32, 3)}
	forEachModelAndCores(b, []string{"mlp", "lenet", "resnet"}, func(b *testing.B, backend compute.Backend, name string) {
		benchmarkHVP(b, backend, name, splits[name], rng)
	})
}

// randomSplit is a split of hvpExamples random images of the given shape with random labels.
func randomSplit(rng *rand.Rand, height, width, channels int) *datasets.Split {
	split := &datasets.Split{Images: make([]uint8, hvpExamples*height*width*channels), Labels: make([]uint8, hvpExamples),
		Height: height, Width: width, Channels: channels}
	for i := range split.Images {
		split.Images[i] = uint8(rng.IntN(256))
	}
	for i := range split.Labels {
		split.Labels[i] = uint8(rng.IntN(10))
	}
	return split
}

// benchmarkHVP times Hessian-vector products of the named model on backend over split
// (in one batch) along a direction drawn from rng.
func benchmarkHVP(b *testing.B, backend compute.Backend, name string, split *datasets.Split, rng *rand.Rand) {
	net, err := experiment.NewNet(backend, name, models.Config{}, split.Height, split.Width, split.Channels, 1)
	if err != nil {
		b.Fatal(err)
	}
	v, err := net.Weights()
	if err != nil {
		b.Fatal(err)
	}
	for i := range v.Tensors {
		for j := range v.Tensors[i].Data {
			v.Tensors[i].Data[j] = float32(rng.NormFloat64())
		}
	}
	product := func() {
		if _, err := net.HessianVectorProduct(split, split.Len(), nil, v); err != nil {
			b.Fatal(err)
		}
	}
	product() // compiles
	products := 0
	cpu := startCPUClock()
	b.ResetTimer()
	for b.Loop() {
		product()
		products++
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed())/float64(time.Millisecond)/float64(products), "ms/product")
	cpu.report(b, products, "product")
}

// BenchmarkCorruptedEpoch measures one epoch of the MLP on corrupted MNIST (the paper's
// protocol: wrong-uniform labels, paper copies, 130k examples) through experiment.Train.
// ms/step and s/epoch come from the run's own epoch timing, which excludes the
// evaluations Train does before and after the epoch.
func BenchmarkCorruptedEpoch(b *testing.B) {
	ctx := context.Background()
	d, err := datasets.Load(ctx, "mnist", datasets.Options{URLs: []string{}, NoFallbacks: true})
	if err != nil {
		b.Skipf("MNIST is not in the cache (run `esp data fetch mnist` or set ESP_DATA_DIR): %v", err)
	}
	set, err := corrupt.Build(d, corrupt.Settings{})
	if err != nil {
		b.Fatal(err)
	}
	backend, err := experiment.NewBackend("go")
	if err != nil {
		b.Fatal(err)
	}
	var seconds float64
	var steps int
	for b.Loop() {
		res, err := experiment.Train(ctx, backend, set, experiment.Settings{Model: "mlp", Epochs: 1}, "", nil)
		if err != nil {
			b.Fatal(err)
		}
		seconds += res.Last().EpochSeconds
		steps += res.Steps
	}
	b.StopTimer()
	if steps > 0 {
		b.ReportMetric(1000*seconds/float64(steps), "ms/step")
		b.ReportMetric(seconds/float64(b.N), "s/epoch")
	}
}

// matmulProducts are the MLP training step's two large matrix products in the layouts
// esp's dense layers give the Go backend (models.denseChain), on one core: the gap
// between these and the peer's is the Go backend's matmul kernel, outside this project.
var matmulProducts = []struct {
	name                     string
	lhs, rhs                 []int
	lhsContract, rhsContract int
}{
	{"forward", []int{512, 784}, []int{128, 784}, 1, 1},         // W·xᵀ
	{"weight-gradient", []int{512, 128}, []int{128, 784}, 1, 0}, // dy·x
}

// BenchmarkMatmul measures the MLP's two large products (see matmulProducts) on the Go
// backend with one core, reporting GFLOPS (2·m·k·n per product).
func BenchmarkMatmul(b *testing.B) {
	backend, err := experiment.NewBackend("go:parallelism=1")
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(2, 2))
	random := func(dims []int) *tensors.Tensor {
		data := make([]float32, dims[0]*dims[1])
		for i := range data {
			data[i] = rng.Float32()
		}
		return tensors.FromFlatDataAndDimensions(data, dims...)
	}
	for _, p := range matmulProducts {
		b.Run(p.name, func(b *testing.B) {
			exec, err := graph.NewExec(backend, func(lhs, rhs *graph.Node) *graph.Node {
				return graph.DotGeneral(lhs, []int{p.lhsContract}, nil, rhs, []int{p.rhsContract}, nil)
			})
			if err != nil {
				b.Fatal(err)
			}
			lhs, rhs := random(p.lhs), random(p.rhs)
			run := func() {
				out, err := exec.Exec(lhs, rhs)
				if err != nil {
					b.Fatal(err)
				}
				out[0].FinalizeAll()
			}
			run() // compiles
			b.ResetTimer()
			for b.Loop() {
				run()
			}
			b.StopTimer()
			flops := 2 * float64(p.lhs[0]*p.lhs[1]*p.rhs[0]*p.rhs[1]) / float64(p.lhs[p.lhsContract])
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
		})
	}
}
