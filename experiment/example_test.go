package experiment_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/extremepoints/esp/corrupt"
	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/experiment"
	"github.com/extremepoints/esp/models"
)

// tinyDataset is a 2-class toy dataset: class 1 images are bright, class 0 dark.
func tinyDataset() *datasets.Dataset {
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

// tinyNet is a freshly initialized MLP (hidden width 8, seed 7) on the Go backend for
// tinyDataset, and the dataset.
func tinyNet() (*experiment.Net, *datasets.Dataset) {
	backend, err := experiment.NewBackend("go")
	if err != nil {
		panic(err)
	}
	d := tinyDataset()
	net, err := experiment.NewNet(backend, "mlp", models.Config{Hidden: 8, Classes: len(d.Classes)}, 4, 4, 1, 7)
	if err != nil {
		panic(err)
	}
	return net, d
}

func ExampleTrain() {
	d := tinyDataset()
	dir, _ := os.MkdirTemp("", "esp-example")
	defer os.RemoveAll(dir)
	settings := experiment.Settings{Model: "mlp", ModelConfig: models.Config{Hidden: 8}, Epochs: 5, BatchSize: 16, Seed: 1,
		Optimizer: experiment.Optimizer{LearningRate: 0.03}}
	res, err := experiment.Train(context.Background(), nil, corrupt.Clean(d), settings, dir, nil)
	if err != nil {
		panic(err)
	}
	last := res.Last()
	fmt.Printf("status %s after %d epochs, test accuracy %.2f\n", res.Status, res.Epochs, float64(last.TestAcc))
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		fmt.Println(e.Name())
	}
	// Output:
	// status ok after 5 epochs, test accuracy 1.00
	// config.json
	// final.safetensors
	// init.safetensors
	// metrics.jsonl
}

// stopAfter is a progress writer that cancels a run once it reports epoch n, as an
// interrupt would.
type stopAfter struct {
	n      int
	cancel context.CancelFunc
}

func (s stopAfter) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, fmt.Appendf(nil, "epoch %d/", s.n)) {
		s.cancel()
	}
	return len(p), nil
}

// A run interrupted after its first epoch keeps a checkpoint in its directory; Train
// given the directory again resumes there and ends where the run in one go does.
func ExampleTrain_resume() {
	d := tinyDataset()
	settings := experiment.Settings{Model: "mlp", ModelConfig: models.Config{Hidden: 8}, Epochs: 5, BatchSize: 16, Seed: 1}
	whole, err := experiment.Train(context.Background(), nil, corrupt.Clean(d), settings, "", nil)
	if err != nil {
		panic(err)
	}
	dir, _ := os.MkdirTemp("", "esp-example")
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	_, err = experiment.Train(ctx, nil, corrupt.Clean(d), settings, dir, stopAfter{1, cancel})
	fmt.Println("interrupted:", err, "- checkpoint:", experiment.HasCheckpoint(dir))

	res, err := experiment.Train(context.Background(), nil, corrupt.Clean(d), settings, dir, nil)
	if err != nil {
		panic(err)
	}
	l2, _, _ := experiment.Distance(res.Final, whole.Final)
	fmt.Printf("resumed after epoch %d, %d epochs in all, %g from the run in one go\n",
		res.Config.Resumed[0].AfterEpoch, res.Epochs, l2)
	fmt.Println("checkpoint:", experiment.HasCheckpoint(dir))
	// Output:
	// interrupted: context canceled - checkpoint: true
	// resumed after epoch 1, 5 epochs in all, 0 from the run in one go
	// checkpoint: false
}

// Three runs of one recipe, differing in their seeds, trained in one compiled graph: each
// ends as it would alone.
func ExampleTrainEnsemble() {
	d := tinyDataset()
	var sets []*corrupt.Set
	var settings []experiment.Settings
	for seed := range uint64(3) {
		sets = append(sets, corrupt.Clean(d))
		settings = append(settings, experiment.Settings{Model: "mlp", ModelConfig: models.Config{Hidden: 8}, Epochs: 10,
			BatchSize: 16, Seed: seed, Optimizer: experiment.Optimizer{LearningRate: 0.03}})
	}
	results, err := experiment.TrainEnsemble(context.Background(), nil, sets, settings, nil, nil)
	if err != nil {
		panic(err)
	}
	for i, res := range results {
		fmt.Printf("run %d: status %s after %d epochs, %d steps, test accuracy %.2f\n",
			i, res.Status, res.Epochs, res.Steps, float64(res.Last().TestAcc))
	}
	// Output:
	// run 0: status ok after 10 epochs, 40 steps, test accuracy 1.00
	// run 1: status ok after 10 epochs, 40 steps, test accuracy 1.00
	// run 2: status ok after 10 epochs, 40 steps, test accuracy 1.00
}

// An ensemble interrupted after its first epoch leaves each member a checkpoint in its run
// directory; TrainEnsemble given the directories again resumes the members together, and
// they end where the ensemble in one go does. (Train would resume any one of them alone.)
func ExampleTrainEnsemble_resume() {
	d := tinyDataset()
	var sets []*corrupt.Set
	var settings []experiment.Settings
	var dirs []string
	root, _ := os.MkdirTemp("", "esp-example")
	defer os.RemoveAll(root)
	for seed := range uint64(3) {
		sets = append(sets, corrupt.Clean(d))
		settings = append(settings, experiment.Settings{Model: "mlp", ModelConfig: models.Config{Hidden: 8}, Epochs: 5,
			BatchSize: 16, Seed: seed})
		dirs = append(dirs, filepath.Join(root, fmt.Sprint("run", seed)))
	}
	whole, err := experiment.TrainEnsemble(context.Background(), nil, sets, settings, nil, nil)
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, err = experiment.TrainEnsemble(ctx, nil, sets, settings, dirs, stopAfter{1, cancel})
	fmt.Println("interrupted:", err, "- checkpoints:", experiment.HasCheckpoint(dirs[0]), experiment.HasCheckpoint(dirs[1]), experiment.HasCheckpoint(dirs[2]))

	results, err := experiment.TrainEnsemble(context.Background(), nil, sets, settings, dirs, nil)
	if err != nil {
		panic(err)
	}
	for i, res := range results {
		l2, _, _ := experiment.Distance(res.Final, whole[i].Final)
		fmt.Printf("run %d: resumed after epoch %d in an ensemble of %d, %d epochs in all, %g from the run in one go\n",
			i, res.Config.Resumed[0].AfterEpoch, res.Config.Resumed[0].Ensemble, res.Epochs, l2)
	}
	// Output:
	// interrupted: context canceled - checkpoints: true true true
	// run 0: resumed after epoch 1 in an ensemble of 3, 5 epochs in all, 0 from the run in one go
	// run 1: resumed after epoch 1 in an ensemble of 3, 5 epochs in all, 0 from the run in one go
	// run 2: resumed after epoch 1 in an ensemble of 3, 5 epochs in all, 0 from the run in one go
}

// trainedToyRun trains a small MLP on d for 10 epochs into a new temporary folder, which
// it returns.
func trainedToyRun(d *datasets.Dataset) string {
	dir, err := os.MkdirTemp("", "esp-example")
	if err != nil {
		panic(err)
	}
	settings := experiment.Settings{ModelConfig: models.Config{Hidden: 8}, Epochs: 10, BatchSize: 16,
		Optimizer: experiment.Optimizer{LearningRate: 0.03}}
	if _, err := experiment.Train(context.Background(), nil, corrupt.Clean(d), settings, dir, nil); err != nil {
		panic(err)
	}
	return dir
}

func ExampleLoadNet() {
	d := tinyDataset()
	dir := trainedToyRun(d)
	defer os.RemoveAll(dir)
	backend, err := experiment.NewBackend("go")
	if err != nil {
		panic(err)
	}
	// Load the final weights and probe them: accuracy and gradient norm on the training split.
	net, err := experiment.LoadNet(backend, filepath.Join(dir, experiment.FinalWeightsFile))
	if err != nil {
		panic(err)
	}
	eval, err := net.Evaluate(d.Train, 1000)
	if err != nil {
		panic(err)
	}
	grad, loss, err := net.Gradient(d.Train, 1000, nil)
	if err != nil {
		panic(err)
	}
	fmt.Printf("model %s, train accuracy %.2f, loss matches: %v, gradient norm > 0: %v\n",
		net.Model.Name(), eval[0].Accuracy, fmt.Sprintf("%.5f", loss) == fmt.Sprintf("%.5f", eval[0].Loss), grad.Norm() > 0)
	// Output:
	// model mlp, train accuracy 1.00, loss matches: true, gradient norm > 0: true
}

// Weights already read (to check them, say) become a net without reading the file again.
func ExampleNetFromWeights() {
	d := tinyDataset()
	dir := trainedToyRun(d)
	defer os.RemoveAll(dir)
	backend, err := experiment.NewBackend("go")
	if err != nil {
		panic(err)
	}
	w, err := experiment.LoadWeights(filepath.Join(dir, experiment.FinalWeightsFile))
	if err != nil {
		panic(err)
	}
	if err := w.CheckFinite(); err != nil {
		panic(err)
	}
	net, err := experiment.NetFromWeights(backend, w)
	if err != nil {
		panic(err)
	}
	eval, err := net.Evaluate(d.Train, 1000)
	if err != nil {
		panic(err)
	}
	fmt.Printf("model %s, train accuracy %.2f\n", net.Model.Name(), eval[0].Accuracy)
	// Output:
	// model mlp, train accuracy 1.00
}

// A freshly initialized net is near chance on both splits; with a trained run's weights it
// is not.
func ExampleNet_EvaluateDataset() {
	net, d := tinyNet()
	show := func(stage string) {
		train, test, err := net.EvaluateDataset(d, 1000)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s: train accuracy %.2f on %d, test accuracy %.2f on %d\n", stage, train.Accuracy, train.N, test.Accuracy, test.N)
	}
	show("initialized")

	dir := trainedToyRun(d)
	defer os.RemoveAll(dir)
	trained, err := experiment.LoadWeights(filepath.Join(dir, experiment.FinalWeightsFile))
	if err != nil {
		panic(err)
	}
	if err := net.SetWeights(trained); err != nil {
		panic(err)
	}
	show("trained")
	// Output:
	// initialized: train accuracy 0.61 on 64, test accuracy 0.56 on 32
	// trained: train accuracy 1.00 on 64, test accuracy 1.00 on 32
}

func ExampleNewBackend() {
	backend, err := experiment.NewBackend("")
	if err != nil {
		panic(err)
	}
	fmt.Println(backend)
	// Output: go
}

func ExampleCheckBackend() {
	backend, err := experiment.NewBackend("go") // or "xla:cuda", the backend to trust
	if err != nil {
		panic(err)
	}
	defer backend.Finalize()
	check, err := experiment.CheckBackend(backend)
	if err != nil {
		panic(err) // the plugin failed to load, compile or run, or gave wrong numbers
	}
	fmt.Printf("%s on %d images agrees with the Go backend: %v\n", check.Model, check.Examples,
		check.LossDiff <= experiment.CheckTolerance && check.GradientDiff <= experiment.CheckTolerance)
	// Output: lenet on 64 images agrees with the Go backend: true
}

// Weights trained elsewhere (here a trained run's, as a PyTorch import would give them)
// saved as a run of their own: final weights and the accuracies measured on import.
func ExampleSaveImportedRun() {
	d := tinyDataset()
	dir, _ := os.MkdirTemp("", "esp-example")
	defer os.RemoveAll(dir)
	settings := experiment.Settings{Model: "mlp", ModelConfig: models.Config{Hidden: 8}, Epochs: 5, BatchSize: 16, Seed: 1,
		Optimizer: experiment.Optimizer{LearningRate: 0.03}}
	res, err := experiment.Train(context.Background(), nil, corrupt.Clean(d), settings, "", nil)
	if err != nil {
		panic(err)
	}
	info := experiment.ImportInfo{From: "/data/theirs.pt", Format: "pytorch-zip"}
	imported := filepath.Join(dir, "theirs")
	config, err := experiment.SaveImportedRun(nil, d, experiment.Settings{Model: "mlp", ModelConfig: models.Config{Hidden: 8}},
		res.Final, info, imported)
	if err != nil {
		panic(err)
	}
	fmt.Printf("imported from %s: test accuracy %.2f\n", config.Imported.From, config.Imported.TestAcc)
	entries, _ := os.ReadDir(imported)
	for _, e := range entries {
		fmt.Println(e.Name())
	}
	// Output:
	// imported from /data/theirs.pt: test accuracy 1.00
	// config.json
	// final.safetensors
}

// Fit trains a loaded net in place (the probes' restarts do): here from a fresh
// initialization, on the clean set, epoch by epoch.
func ExampleNet_Fit() {
	net, d := tinyNet()
	s := experiment.Settings{Epochs: 3, BatchSize: 16, Optimizer: experiment.Optimizer{LearningRate: 0.03}}
	var losses []float64
	err := net.Fit(context.Background(), corrupt.Clean(d), s, func(e experiment.FitEpoch) error {
		fmt.Printf("epoch %d: %d steps\n", e.Epoch, e.Steps)
		losses = append(losses, e.Loss)
		return nil
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("loss fell:", losses[2] < losses[0])
	// Output:
	// epoch 1: 4 steps
	// epoch 2: 8 steps
	// epoch 3: 12 steps
	// loss fell: true
}

// The gradient of the mean cross-entropy over a whole split, as the full-batch and
// sharpness probes use it: one tensor per trainable variable.
func ExampleNet_Gradient() {
	net, d := tinyNet()
	grad, loss, err := net.Gradient(d.Train, 0, nil)
	if err != nil {
		panic(err)
	}
	for _, t := range grad.Tensors {
		fmt.Println(t.Name, t.Shape)
	}
	fmt.Printf("loss near ln 2: %v, gradient norm > 0: %v\n", loss > 0.5 && loss < 0.9, grad.Norm() > 0)
	// Output:
	// dense_0/weights [8 16]
	// dense_0/biases [8]
	// dense_1/weights [2 8]
	// dense_1/biases [2]
	// loss near ln 2: true, gradient norm > 0: true
}

// A Stepper takes single training steps on batches the caller makes (benchmarks do).
func ExampleNewStepper() {
	net, d := tinyNet()
	stepper, err := experiment.NewStepper(net, experiment.Settings{Optimizer: experiment.Optimizer{LearningRate: 0.03}})
	if err != nil {
		panic(err)
	}
	images := make([]float32, 0, 16*16)
	labels := make([]int32, 16)
	for i := range 16 {
		for _, p := range d.Train.Image(i) {
			images = append(images, float32(p)/255)
		}
		labels[i] = int32(d.Train.Labels[i])
	}
	first, _ := stepper.Step(images, labels)
	var last float64
	for range 20 {
		if last, err = stepper.Step(images, labels); err != nil {
			panic(err)
		}
	}
	fmt.Println("loss on the batch fell:", last < first)
	// Output: loss on the batch fell: true
}

// Distance is what metrics.jsonl's distances from init are: the global L2 distance and
// the sum of per-tensor distances.
func ExampleDistance() {
	a := &experiment.Weights{Tensors: []experiment.Tensor{
		{Name: "w", Shape: []int{2}, Data: []float32{0, 0}, Trainable: true},
		{Name: "b", Shape: []int{1}, Data: []float32{0}, Trainable: true}}}
	b := &experiment.Weights{Tensors: []experiment.Tensor{
		{Name: "w", Shape: []int{2}, Data: []float32{3, 4}, Trainable: true},
		{Name: "b", Shape: []int{1}, Data: []float32{12}, Trainable: true}}}
	l2, sum, err := experiment.Distance(a, b)
	if err != nil {
		panic(err)
	}
	fmt.Printf("L2 %.0f, sum of per-tensor distances %.0f\n", l2, sum)
	// Output: L2 13, sum of per-tensor distances 17
}

// What a run's final weights are, read from the file's header alone: cheap for many runs.
func ExampleReadWeightsMetadata() {
	d := tinyDataset()
	dir := trainedToyRun(d)
	defer os.RemoveAll(dir)
	meta, err := experiment.ReadWeightsMetadata(filepath.Join(dir, experiment.FinalWeightsFile))
	if err != nil {
		panic(err)
	}
	fmt.Println(meta["model"], meta["format"] == experiment.WeightsFormat)
	// Output: mlp true
}

// A job array's task index and count, as esp run --shard takes them.
func ExampleParseShard() {
	for _, s := range []string{"3/8", "8/8"} {
		shard, err := experiment.ParseShard(s)
		fmt.Printf("%s: %+v, error: %v\n", s, shard, err != nil)
	}
	// Output:
	// 3/8: {Index:3 Count:8}, error: false
	// 8/8: {Index:0 Count:0}, error: true
}

// An output folder is checked before any work: a new one, or one of the command's own
// kind, passes; another kind is refused, and nothing in it is touched.
func ExampleCheckResumableDir() {
	root, _ := os.MkdirTemp("", "esp-example")
	defer os.RemoveAll(root)
	report := filepath.Join(root, "report")
	fmt.Println("new:", experiment.CheckResumableDir(report, "summary.json", "a report directory"))
	os.MkdirAll(report, 0o755)
	os.WriteFile(filepath.Join(report, "notes.txt"), nil, 0o644)
	err := experiment.CheckResumableDir(report, "summary.json", "a report directory")
	fmt.Println("foreign:", errors.Is(err, experiment.ErrForeignDir))
	os.WriteFile(filepath.Join(report, "summary.json"), nil, 0o644)
	fmt.Println("its own:", experiment.CheckResumableDir(report, "summary.json", "a report directory"))
	// Output:
	// new: <nil>
	// foreign: true
	// its own: <nil>
}
