package experiment

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/extremepoints/esp/corrupt"
	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/models"
)

// BenchmarkTrainStep measures one training step (batch 128, Adam, 28x28x1 inputs, as
// MNIST) of each model on the Go backend, data feeding excluded.
func BenchmarkTrainStep(b *testing.B) {
	backend, err := NewBackend("go")
	if err != nil {
		b.Fatal(err)
	}
	const batch = 128
	rng := rand.New(rand.NewPCG(1, 1))
	images := make([]float32, batch*28*28)
	for i := range images {
		images[i] = rng.Float32()
	}
	labels := make([]int32, batch)
	for i := range labels {
		labels[i] = int32(rng.IntN(10))
	}
	for _, name := range []string{"mlp", "lenet", "resnet"} {
		b.Run(name, func(b *testing.B) {
			net, err := NewNet(backend, name, models.Config{}, 28, 28, 1, 1)
			if err != nil {
				b.Fatal(err)
			}
			step, err := newTrainStep(net, Settings{}.WithDefaults())
			if err != nil {
				b.Fatal(err)
			}
			x := tensors.FromShape(shapes.Make(dtypes.Float32, batch, 28, 28, 1))
			tensors.MustMutableFlatData(x, func(flat []float32) { copy(flat, images) })
			y := tensors.FromFlatDataAndDimensions(labels, batch)
			benchmarkStep(b, step, x, y)
		})
	}
}

// BenchmarkEnsembleStep measures one training step of K MLP runs trained as one ensemble
// (batch 128 each, Adam, MNIST shapes) on the Go backend with all cores, data feeding
// excluded, with one subgraph per member and (suffix -stacked) with the members' layers
// stacked. It reports ms/run-step, the step's time divided by K: what a study pays per
// run and step, to set against BenchmarkTrainStep/mlp.
func BenchmarkEnsembleStep(b *testing.B) {
	const batch = 128
	d := synthDataset(batch, 10, 28, 28, 1, 10, 1)
	rng := rand.New(rand.NewPCG(1, 1))
	defer func(f func(compute.Backend) bool) { stackedEnsemble = f }(stackedEnsemble)
	for _, form := range []struct {
		suffix  string
		stacked bool
	}{{"", false}, {"-stacked", true}} {
		stackedEnsemble = func(compute.Backend) bool { return form.stacked }
		for _, k := range []int{1, 2, 4, 8} {
			benchmarkEnsembleStep(b, fmt.Sprintf("mlp-%d%s", k, form.suffix), k, d, rng)
		}
	}
}

// benchmarkEnsembleStep times the training step of an ensemble of k MLPs on d's first
// batch images, in the form stackedEnsemble picks.
func benchmarkEnsembleStep(b *testing.B, name string, k int, d *datasets.Dataset, rng *rand.Rand) {
	batch := d.Train.Len()
	b.Run(name, func(b *testing.B) {
		backend, err := NewBackend("go:ops_sequential")
		if err != nil {
			b.Fatal(err)
		}
		sets := make([]*corrupt.Set, k)
		settings := make([]Settings, k)
		for i := range k {
			sets[i], settings[i] = corrupt.Clean(d), Settings{Seed: uint64(i)}
		}
		prepared, err := prepareEnsemble(sets, settings, nil)
		if err != nil {
			b.Fatal(err)
		}
		e, err := newEnsemble(backend, prepared, d.Train)
		if err != nil {
			b.Fatal(err)
		}
		if err := e.start(sets, prepared, nil); err != nil {
			b.Fatal(err)
		}
		for _, m := range e.members {
			m.perm = rng.Perm(batch)
		}
		x, y, err := e.minibatch(0, batch)
		if err != nil {
			b.Fatal(err)
		}
		benchmarkStep(b, e.step, x, y)
		b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N*k), "ms/run-step")
	})
}

// benchmarkStep compiles step on the first call, then times calls with the same inputs,
// each until its loss is on the host.
func benchmarkStep(b *testing.B, step *gmodel.Exec, x, y *tensors.Tensor) {
	if _, err := step.Call(x, y); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		out, err := step.Call(x, y)
		if err != nil {
			b.Fatal(err)
		}
		_ = tensors.MustCopyFlatData[float32](out[0])
	}
}
