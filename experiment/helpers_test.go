package experiment

import (
	"math/rand/v2"

	"github.com/extremepoints/esp/datasets"
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
