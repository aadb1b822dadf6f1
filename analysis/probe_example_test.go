package analysis_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/extremepoints/esp/analysis"
	"github.com/extremepoints/esp/corrupt"
	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/experiment"
	"github.com/extremepoints/esp/models"
)

// toyDataset is a 2-class toy dataset: class 1 images are bright, class 0 dark.
func toyDataset() *datasets.Dataset {
	rng := rand.New(rand.NewPCG(1, 2))
	split := func(n int) *datasets.Split {
		s := &datasets.Split{Height: 4, Width: 4, Channels: 1, Images: make([]uint8, n*16), Labels: make([]uint8, n)}
		for i := range n {
			s.Labels[i] = uint8(i % 2)
			for p := range 16 {
				s.Images[i*16+p] = uint8(rng.IntN(128) + 127*(i%2))
			}
		}
		return s
	}
	return &datasets.Dataset{Name: "toy", Classes: []string{"dark", "bright"}, Train: split(64), Test: split(32)}
}

// Train to an extreme point (the training split plus wrongly labeled copies of the test
// split), then restart minibatch Adam from it on the clean training split.
func ExampleRestart() {
	ds := toyDataset()
	dir, _ := os.MkdirTemp("", "esp-example")
	defer os.RemoveAll(dir)
	set, err := corrupt.Build(ds, corrupt.Settings{})
	if err != nil {
		panic(err)
	}
	run := filepath.Join(dir, "extreme")
	settings := experiment.Settings{ModelConfig: models.Config{Hidden: 32}, Epochs: 40, BatchSize: 16,
		Optimizer: experiment.Optimizer{LearningRate: 0.01}}
	if _, err := experiment.Train(context.Background(), nil, set, settings, run, nil); err != nil {
		panic(err)
	}
	restart := analysis.RestartSettings{Epochs: 10, BatchSize: 16, Optimizer: experiment.Optimizer{LearningRate: 0.01}}
	lines, err := analysis.Restart(context.Background(), nil, analysis.Point{Run: run}, ds, restart, filepath.Join(dir, "restart"), nil)
	if err != nil {
		panic(err)
	}
	first, last := lines[0], lines[len(lines)-1]
	fmt.Printf("test accuracy %.2f at the extreme point, %.2f after %d epochs on clean data\n", first.TestAcc, last.TestAcc, last.Epoch)
	// Output:
	// test accuracy 0.03 at the extreme point, 1.00 after 10 epochs on clean data
}
