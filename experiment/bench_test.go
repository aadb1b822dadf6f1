package experiment

import (
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"

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
			if _, err := step.Call(x, y); err != nil { // compile
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
		})
	}
}
