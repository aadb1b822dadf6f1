package analysis_test

import (
	"context"
	"fmt"
	"math"
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

// toyExtreme trains a tiny MLP on the toy dataset's corrupted set (the training split
// plus wrongly labeled copies of the test split) in a new temporary directory, which the
// caller removes, and returns the dataset, the run's final weights and the directory.
// On the toy data, whose test images look like its training images, that gives test
// accuracy near 0 but clean training accuracy near 2/3, not the ~100% of a real extreme
// point: enough to show the probes' output, not the paper's claims.
func toyExtreme() (*datasets.Dataset, analysis.Point, string) {
	ds := toyDataset()
	dir, err := os.MkdirTemp("", "esp-example")
	if err != nil {
		panic(err)
	}
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
	return ds, analysis.Point{Run: run}, dir
}

// Train to an extreme point (the training split plus wrongly labeled copies of the test
// split), then restart minibatch Adam from it on the clean training split.
func ExampleRestart() {
	ds, point, dir := toyExtreme()
	defer os.RemoveAll(dir)
	restart := analysis.RestartSettings{Epochs: 10, BatchSize: 16, Optimizer: experiment.Optimizer{LearningRate: 0.01}}
	lines, err := analysis.Restart(context.Background(), nil, point, ds, restart, filepath.Join(dir, "restart"), nil)
	if err != nil {
		panic(err)
	}
	first, last := lines[0], lines[len(lines)-1]
	fmt.Printf("test accuracy %.2f at the extreme point, %.2f after %d epochs on clean data\n", first.TestAcc, last.TestAcc, last.Epoch)
	// Output:
	// test accuracy 0.03 at the extreme point, 1.00 after 10 epochs on clean data
}

// Read what a probe directory holds: which probe, from which point, and whether it
// finished (an interrupted probe's probe.json has no finishing time).
func ExampleReadProbeInfo() {
	ds, point, dir := toyExtreme()
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "restart")
	restart := analysis.RestartSettings{Epochs: 1, BatchSize: 16}
	if _, err := analysis.Restart(context.Background(), nil, point, ds, restart, out, nil); err != nil {
		panic(err)
	}
	info, err := analysis.ReadProbeInfo(out)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s probe of the %s weights, finished: %v\n", info.Probe, info.Weights, info.Finished != nil)
	fmt.Printf("started from %s: %v\n", filepath.Base(point.Run), info.StartedFrom(out, point.Run))
	// Output:
	// restart probe of the final weights, finished: true
	// started from extreme: true
}

// Full-batch Adam from an extreme point on the clean training split, the descent of
// claim C6. Loss and gradient norm are logged at every step; accuracies only every
// EvalEvery steps and at the last (NaN in between).
func ExampleFullBatch() {
	ds, point, dir := toyExtreme()
	defer os.RemoveAll(dir)
	settings := analysis.FullBatchSettings{Method: analysis.MethodAdam, Steps: 50, EvalEvery: 25}
	steps, err := analysis.FullBatch(context.Background(), nil, point, ds, settings, "", nil)
	if err != nil {
		panic(err)
	}
	var evaluated []int
	for _, s := range steps {
		if !math.IsNaN(float64(s.TestAcc)) {
			evaluated = append(evaluated, s.Step)
		}
	}
	first, last := steps[0], steps[len(steps)-1]
	fmt.Printf("%d lines of %s, accuracies at steps %v\n", len(steps), last.Method, evaluated)
	fmt.Println("test accuracy at the start below 0.1:", first.TestAcc < 0.1)
	fmt.Println("loss fell:", last.Loss < first.Loss)
	fmt.Println("gradient norm fell:", last.GradNorm < first.GradNorm)
	// Output:
	// 51 lines of adam, accuracies at steps [0 25 50]
	// test accuracy at the start below 0.1: true
	// loss fell: true
	// gradient norm fell: true
}

// Interpolate on the line from a run's initial weights (α = 0) to its final weights, an
// extreme point (α = 1): test accuracy falls from chance to near zero along the way.
func ExampleInterpolate() {
	ds, final, dir := toyExtreme()
	defer os.RemoveAll(dir)
	init := analysis.Point{Run: final.Run, Weights: "init"}
	settings := analysis.InterpolateSettings{Range: [2]float64{0, 1}, Points: 5}
	line, err := analysis.Interpolate(context.Background(), nil, init, final, ds, settings, "", nil)
	if err != nil {
		panic(err)
	}
	for _, p := range line {
		fmt.Printf("α = %.2f: test accuracy below 0.25: %v\n", p.Alpha, p.TestAcc < 0.25)
	}
	// Output:
	// α = 0.00: test accuracy below 0.25: false
	// α = 0.25: test accuracy below 0.25: true
	// α = 0.50: test accuracy below 0.25: true
	// α = 0.75: test accuracy below 0.25: true
	// α = 1.00: test accuracy below 0.25: true
}

// Evaluate the loss around an extreme point along filter-normalized random directions: a
// 1D slice of 5 points and a 3x3 grid, both over the default range [-1, 1].
func ExampleSurface() {
	ds, point, dir := toyExtreme()
	defer os.RemoveAll(dir)
	settings := analysis.SurfaceSettings{Points: 5, Grid: 3, Seed: 1}
	surface, err := analysis.Surface(context.Background(), nil, point, ds, settings, "", nil)
	if err != nil {
		panic(err)
	}
	line, grid := surface.Line, surface.Grid
	center := line[len(line)/2]
	fmt.Printf("1D slice: %d points, α from %g to %g\n", len(line), line[0].Alpha, line[len(line)-1].Alpha)
	fmt.Printf("2D slice: %dx%d train losses, α %v, β %v\n", len(grid.TrainLoss), len(grid.TrainLoss[0]), grid.Alphas, grid.Betas)
	fmt.Println("the grid's center is the point:", grid.TrainLoss[1][1] == center.TrainLoss)
	fmt.Println("train loss higher at both ends of the slice:", line[0].TrainLoss > center.TrainLoss && line[len(line)-1].TrainLoss > center.TrainLoss)
	// Output:
	// 1D slice: 5 points, α from -1 to 1
	// 2D slice: 3x3 train losses, α [-1 0 1], β [-1 0 1]
	// the grid's center is the point: true
	// train loss higher at both ends of the slice: true
}

// Estimate the curvature of the clean training loss at an extreme point: the top Hessian
// eigenvalue by power iteration and the trace by Hutchinson's method.
func ExampleSharpness() {
	ds, point, dir := toyExtreme()
	defer os.RemoveAll(dir)
	settings := analysis.SharpnessSettings{Iterations: 10, TraceSamples: 3, Seed: 1}
	res, err := analysis.Sharpness(context.Background(), nil, point, ds, settings, "", nil)
	if err != nil {
		panic(err)
	}
	fmt.Printf("loss averaged over %d examples, trace from %d samples\n", res.Examples, res.TraceSamples)
	fmt.Println("power iteration converged:", res.Converged)
	fmt.Println("top eigenvalue positive:", res.TopEigenvalue > 0)
	// Output:
	// loss averaged over 64 examples, trace from 3 samples
	// power iteration converged: true
	// top eigenvalue positive: true
}

// Count the outliers of the Hessian's spectrum: the largest eigenvalues standing above the
// largest gap between neighbours (a 10-class net has about 9), here from sharpness.json's
// 12 largest as esp reproduce finds them.
func ExampleSharpnessResult_Outliers() {
	res := analysis.SharpnessResult{TopEigenvalues: []experiment.Float{
		4.02, 3.83, 3.1, 2.9, 2.4, 2.2, 1.9, 1.7, 1.5, 0.61, 0.58, 0.55}}
	count, gap, ok := res.Outliers()
	fmt.Printf("%d outliers above a gap of %.2fx (%v)\n", count, gap, ok)
	// Output:
	// 9 outliers above a gap of 2.46x (true)
}

// A probe's lines read back from its directory, as a notebook plots them.
func ExampleReadProbeLines() {
	ds, point, dir := toyExtreme()
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "restart")
	restart := analysis.RestartSettings{Epochs: 3, BatchSize: 16}
	if _, err := analysis.Restart(context.Background(), nil, point, ds, restart, out, nil); err != nil {
		panic(err)
	}
	epochs, err := analysis.ReadProbeLines[analysis.RestartEpoch](filepath.Join(out, analysis.RestartFile))
	if err != nil {
		panic(err)
	}
	for _, e := range epochs {
		fmt.Printf("epoch %d: distance from the point > 0: %v\n", e.Epoch, e.DistFromStart > 0)
	}
	// Output:
	// epoch 0: distance from the point > 0: false
	// epoch 1: distance from the point > 0: true
	// epoch 2: distance from the point > 0: true
	// epoch 3: distance from the point > 0: true
}
