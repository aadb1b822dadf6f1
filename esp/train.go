package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/extremepoints/esp/corrupt"
	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/experiment"
	"github.com/extremepoints/esp/models"
)

// trainFlags are the flags that describe one training run.
type trainFlags struct {
	data         dataFlags
	corruption   corruptFlags
	dataset      string
	model        string
	epochs       int
	seed         uint64
	backend      string
	optimizer    string
	schedule     string
	learningRate float64
	momentum     float64
	weightDecay  float64
	batchSize    int
	hidden       int
	blocks       int
	fcReLU       bool
	shortcut3x3  bool
	convs        int
	fcHidden     int
	formulation  string
	stepsPerCall int
}

func (t *trainFlags) register(fs *flag.FlagSet) {
	t.data.register(fs)
	t.corruption.register(fs)
	fs.StringVar(&t.dataset, "dataset", "", "dataset: "+strings.Join(datasets.Names(), ", ")+", or an imported image folder")
	fs.StringVar(&t.model, "model", "", "model: "+strings.Join(models.Names(), ", "))
	fs.IntVar(&t.epochs, "epochs", 0, "epochs (default 11, as the authors trained LeNet; their MLP ran 50)")
	fs.Uint64Var(&t.seed, "seed", 0, "seed of the initialization, the data order and (unless --corrupt-seed) the corruption")
	fs.StringVar(&t.backend, "backend", os.Getenv("GOMLX_BACKEND"), "compute backend: "+strings.Join(experiment.BackendNames, ", ")+" (default $GOMLX_BACKEND, else go)")
	fs.StringVar(&t.optimizer, "optimizer", "adam", "optimizer: adam or sgd")
	fs.StringVar(&t.schedule, "schedule", "constant", "learning-rate schedule: constant (the paper's) or cosine (decays to 0 at the last step)")
	fs.Float64Var(&t.learningRate, "lr", 0, "learning rate (default 1e-3 for adam, 1e-2 for sgd)")
	fs.Float64Var(&t.momentum, "momentum", 0, "SGD momentum")
	fs.Float64Var(&t.weightDecay, "weight-decay", 0, "L2 coefficient λ: λ/2·‖w‖² is added to the loss")
	fs.IntVar(&t.batchSize, "batch-size", 0, "minibatch size (default 128)")
	fs.IntVar(&t.hidden, "hidden", 0, "MLP hidden width (default 512)")
	fs.IntVar(&t.blocks, "blocks", 0, "ResNet basic blocks per stage (default 2)")
	fs.BoolVar(&t.fcReLU, "fc-relu", false, "LeNet: a ReLU between the two fully connected layers (the paper's text; the authors' code has none)")
	fs.IntVar(&t.fcHidden, "fc-hidden", 0, "LeNet: width of the first fully connected layer (default 84)")
	fs.IntVar(&t.convs, "convs", 0, fmt.Sprintf("LeNet: convolutions, 1 to %d (default %[1]d; the authors' smaller CNN has 2, with --fc-hidden 64)", models.LeNetMaxConvs))
	fs.BoolVar(&t.shortcut3x3, "shortcut-3x3", false, "ResNet: 3x3 projection shortcuts, as in the authors' code (default 1x1)")
	fs.StringVar(&t.formulation, "formulation", "", "convolution formulation: matmul, native or autodiff (default: by backend)")
	fs.IntVar(&t.stepsPerCall, "steps-per-call", 1, "training steps per call of the compiled graph (for accelerators: one launch for N steps, the same steps; constant learning rate only)")
}

// modelFlags are the flags of one model each: given for another, they would change nothing.
var modelFlags = map[string]string{"hidden": "mlp", "fc-hidden": "lenet", "convs": "lenet", "fc-relu": "lenet",
	"blocks": "resnet", "shortcut-3x3": "resnet"}

// inapplicableFlag refuses a flag given where it changes nothing: another model's, SGD's
// momentum with Adam, a corruption seed without --corrupt, a convolution formulation for
// the MLP.
func (t *trainFlags) inapplicableFlag(fs *flag.FlagSet) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		if err != nil {
			return
		}
		if model, ok := modelFlags[f.Name]; ok && model != t.model && slices.Contains(models.Names(), t.model) {
			err = usagef("--%s is a flag of --model %s, not of %s", f.Name, model, t.model)
		}
		if f.Name == "formulation" && t.model == "mlp" {
			err = usagef("--formulation chooses how convolutions are computed: --model mlp has none (lenet and resnet do)")
		}
		if f.Name == "momentum" && t.optimizer != experiment.SGD {
			err = usagef("--momentum is SGD's (--optimizer sgd), not %s's", t.optimizer)
		}
		if f.Name == "corrupt-seed" && t.corruption.strategy == "" {
			err = usagef("--corrupt-seed needs --corrupt STRATEGY (%s)", strings.Join(corrupt.Strategies, ", "))
		}
	})
	return err
}

// settings validates the flags and returns the run's settings and corruption.
func (t *trainFlags) settings(fs *flag.FlagSet) (experiment.Settings, corrupt.Settings, bool, error) {
	var s experiment.Settings
	if t.dataset == "" {
		return s, corrupt.Settings{}, false, usagef("--dataset is required: %s, or an imported image folder", strings.Join(datasets.Names(), ", "))
	}
	if t.model == "" {
		return s, corrupt.Settings{}, false, usagef("--model is required: %s", strings.Join(models.Names(), ", "))
	}
	if err := t.data.validate(); err != nil {
		return s, corrupt.Settings{}, false, err
	}
	if err := checkRate("lr", t.learningRate); err != nil {
		return s, corrupt.Settings{}, false, err
	}
	for _, v := range []struct {
		name  string
		value float64
	}{{"momentum", t.momentum}, {"weight-decay", t.weightDecay}} {
		if math.IsNaN(v.value) || math.IsInf(v.value, 0) || v.value < 0 {
			return s, corrupt.Settings{}, false, usagef("invalid --%s %v: want a finite number >= 0", v.name, v.value)
		}
	}
	if t.epochs < 0 || t.batchSize < 0 || t.hidden < 0 || t.blocks < 0 || t.fcHidden < 0 {
		return s, corrupt.Settings{}, false, usagef("--epochs, --batch-size, --hidden, --fc-hidden and --blocks must be positive")
	}
	if err := t.inapplicableFlag(fs); err != nil {
		return s, corrupt.Settings{}, false, err
	}
	if t.convs < 0 || t.convs > models.LeNetMaxConvs {
		return s, corrupt.Settings{}, false, usagef("invalid --convs %d: LeNet has 1 to %d convolutions", t.convs, models.LeNetMaxConvs)
	}
	if t.stepsPerCall < 1 {
		return s, corrupt.Settings{}, false, usagef("--steps-per-call must be a positive count, got %d (1: one step per call)", t.stepsPerCall)
	}
	seedGiven := flagGiven(fs, "corrupt-seed")
	if !seedGiven {
		t.corruption.seed = t.seed
	}
	cs, corrupted, err := t.corruption.settings()
	if err != nil {
		return s, corrupt.Settings{}, false, err
	}
	s = experiment.Settings{
		Dataset: t.dataset, Subset: t.data.subset, Model: t.model,
		ModelConfig: models.Config{Hidden: t.hidden, Blocks: t.blocks, FCReLU: t.fcReLU, Shortcut3x3: t.shortcut3x3, Convs: t.convs, FCHidden: t.fcHidden,
			Formulation: models.Formulation(t.formulation)},
		Corruption:  cs,
		Optimizer:   experiment.Optimizer{Name: t.optimizer, LearningRate: t.learningRate, Momentum: t.momentum, Schedule: t.schedule},
		BatchSize:   t.batchSize,
		Epochs:      t.epochs,
		WeightDecay: t.weightDecay,
		Seed:        t.seed,
		Backend:     t.backend,
	}
	if t.stepsPerCall > 1 {
		s.StepsPerCall = t.stepsPerCall
	}
	if err := s.Validate(); err != nil {
		return s, cs, false, badInput(err)
	}
	return s, cs, corrupted, nil
}

// checkOutDir refuses a directory that already holds files: a finished run is never overwritten.
func checkOutDir(dir string) error {
	if dir == "" {
		return usagef("--out DIR is required: the run's config, metrics and weights go there")
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return usagef("--out %s: %v", dir, experiment.ReadDirError(dir, err))
	}
	for _, e := range entries {
		if experiment.IsLeftWhileTraining(e.Name()) {
			continue // what a process killed before it wrote anything left: Train clears it
		}
		return usagef("--out %s is not empty: choose a new directory (nothing there is overwritten)", dir)
	}
	return nil
}

// checkTrainOutDir accepts for a run a new or empty directory, or one holding an
// interrupted run: with a checkpoint, which Train resumes, or stopped before its first,
// which Train starts again (either refused, if the flags ask for another run).
func checkTrainOutDir(dir string) error {
	if dir != "" && experiment.HasCheckpoint(dir) {
		return nil
	}
	if dir != "" {
		_, config := os.Stat(filepath.Join(dir, experiment.ConfigFile))
		_, final := os.Stat(filepath.Join(dir, experiment.FinalWeightsFile))
		if config == nil && final != nil {
			return nil
		}
		if config == nil && final == nil {
			return usagef("--out %s holds a finished run (%s): nothing to do, and nothing there is overwritten; choose a new directory to train another", dir, experiment.FinalWeightsFile)
		}
	}
	return checkOutDir(dir)
}

func runTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("train", stderr, "train --dataset D --model M [--corrupt STRATEGY] [--epochs N] [--seed S] --out DIR")
	var tf trainFlags
	tf.register(fs)
	out := fs.String("out", "", "run directory to create (must be new or empty; an interrupted run there resumes from its last epoch)")
	if rest, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("unexpected arguments %q", rest)
	}
	settings, cs, corrupted, err := tf.settings(fs)
	if err != nil {
		return err
	}
	if err := checkTrainOutDir(*out); err != nil {
		return err
	}
	backend, err := experiment.NewBackend(settings.Backend)
	if err != nil {
		return err
	}
	defer backend.Finalize()
	ds, err := tf.data.load(ctx, tf.dataset, stderr)
	if err != nil {
		return err
	}
	set := corrupt.Clean(ds)
	if corrupted {
		if set, err = corrupt.Build(ds, cs); err != nil {
			return badInput(err)
		}
	}
	fmt.Fprintf(stderr, "training %s on %s (%d examples%s) with %s on the %s backend -> %s\n", settings.Model, ds.Name, set.Len(),
		corruptionNote(set), settings.WithDefaults().Optimizer.Name, settings.WithDefaults().Backend, *out)
	result, err := experiment.Train(ctx, backend, set, settings, *out, stderr)
	if err != nil {
		if epochs, ok := experiment.CheckpointEpoch(*out); ok && result != nil {
			return interrupted(err, fmt.Sprintf("%s holds a checkpoint after epoch %d", *out, epochs))
		}
		if errors.Is(err, context.Canceled) {
			return interruptedf("interrupted before the run's first checkpoint: run the same command again to train it from its start")
		}
		return err
	}
	last := result.Last()
	if result.Status == experiment.StatusDiverged { // in the epoch after the last finished
		fmt.Fprintf(stdout, "%s in epoch %d, by step %d (its loss not finite); the last line: train_acc %.4f", result.Status, result.Epochs+1, result.Steps, last.TrainAcc)
	} else {
		fmt.Fprintf(stdout, "%s after %d epochs: train_acc %.4f", result.Status, result.Epochs, last.TrainAcc)
	}
	if set.IsCorrupted() {
		fmt.Fprintf(stdout, " corrupted_acc %.4f", float64(*last.CorruptedAcc))
	}
	fmt.Fprintf(stdout, " test_acc %.4f weight_norm %.2f dist_from_init %.2f\nrun directory: %s\n",
		last.TestAcc, last.WeightNorm, last.DistFromInit, *out)
	if result.Status != experiment.StatusOK {
		return fmt.Errorf("the run %s (see %s)", result.Status, *out)
	}
	return nil
}

func corruptionNote(set *corrupt.Set) string {
	if !set.IsCorrupted() {
		return ", normal"
	}
	sum := set.Summarize()
	return fmt.Sprintf(", corrupted: %s, %d test copies", set.Settings.Strategy, sum.Copies)
}
