package experiment

import (
	"math/rand/v2"

	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/models"
)

// Recipes of the trainer and ensemble tests: Adam; SGD with momentum, weight decay and a schedule (state
// that changes every step); a convolutional model.
var (
	adamMLP  = Settings{Model: "mlp", ModelConfig: models.Config{Hidden: 32}, Epochs: 2, BatchSize: 32}
	sgdMLP   = Settings{Model: "mlp", ModelConfig: models.Config{Hidden: 16}, Epochs: 2, BatchSize: 32, WeightDecay: 1e-3, Optimizer: Optimizer{Name: SGD, LearningRate: 0.05, Momentum: 0.9, Schedule: ScheduleCosine}}
	leNetRun = Settings{Model: "lenet", Epochs: 1, BatchSize: 64}
)

// synthDataset returns a small separable dataset of h x w x c images (see syntheticSplit).
func synthDataset(nTrain, nTest, h, w, c, classes int, seed uint64) *datasets.Dataset {
	rng := rand.New(rand.NewPCG(seed, 1))
	split := func(n int) *datasets.Split { return syntheticSplit(rng, n, h, w, c, classes) }
	classNames := make([]string, classes)
	for i := range classNames {
		classNames[i] = string(rune('a' + i))
	}
	return &datasets.Dataset{Name: "synth", Classes: classNames, Train: split(nTrain), Test: split(nTest)}
}
