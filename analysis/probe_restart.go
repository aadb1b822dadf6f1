package analysis

import (
	"context"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/gomlx/compute"

	"github.com/extremepoints/esp/corrupt"
	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/experiment"
)

// RestartSettings configures Restart. The zero value of every field is its default.
type RestartSettings struct {
	// Optimizer defaults to the paper's training optimizer: Adam, lr 1e-3, eps 1e-8
	// (experiment.Optimizer's defaults; "sgd" defaults to lr 1e-2).
	Optimizer experiment.Optimizer `json:"optimizer"`
	// Epochs is the number of passes over the clean training split. Default 5.
	Epochs int `json:"epochs,omitempty"`
	// BatchSize is the minibatch size. Default 128 (the paper's).
	BatchSize int `json:"batch_size,omitempty"`
	// Seed fixes the order of the examples. 0 is a valid seed.
	Seed uint64 `json:"seed"`
	// EvalBatchSize is the batch size of evaluation passes. Default 1000.
	EvalBatchSize int `json:"eval_batch_size,omitempty"`
}

// WithDefaults returns s with every zero field replaced by its default.
func (s RestartSettings) WithDefaults() RestartSettings {
	s.Optimizer = s.Optimizer.WithDefaults()
	if s.Epochs == 0 {
		s.Epochs = 5
	}
	if s.BatchSize == 0 {
		s.BatchSize = experiment.DefaultBatchSize
	}
	if s.EvalBatchSize == 0 {
		s.EvalBatchSize = defaultEvalBatch
	}
	return s
}

// Validate reports invalid settings, naming the valid choices.
func (s RestartSettings) Validate() error {
	if err := checkCounts("restart", count{"epochs", s.Epochs}, count{"batch size", s.BatchSize},
		count{"evaluation batch size", s.EvalBatchSize}); err != nil {
		return err
	}
	if s.Epochs > experiment.MaxEpochs { // refused here, not by the training after the probe began
		return fmt.Errorf("restart: %d epochs: at most %d", s.Epochs, experiment.MaxEpochs)
	}
	return experiment.Settings{Optimizer: s.Optimizer}.Validate()
}

// RestartEpoch is one line of restart.jsonl: the state after an epoch of the restart
// (epoch 0 is the start point). Losses and accuracies are on the clean training split
// and the test split; distances are global L2 over trainable parameters.
type RestartEpoch struct {
	Epoch int `json:"epoch"`
	// Step is the number of optimizer steps taken so far.
	Step int `json:"step"`
	PointEval
	// DistFromStart is the distance from the point the restart started from;
	// DistFromInit from the run's initialization (null for an imported run).
	DistFromStart experiment.Float `json:"dist_from_start"`
	DistFromInit  experiment.Float `json:"dist_from_init"`
	// FitLoss and FitAcc are the epoch's minibatch means (training mode); absent at epoch 0.
	FitLoss *experiment.Float `json:"fit_loss,omitempty"`
	FitAcc  *experiment.Float `json:"fit_acc,omitempty"`
	// Seconds is the wall time since the restart began.
	Seconds float64 `json:"seconds"`
}

// Restart trains from point with minibatch descent (s.Optimizer, fresh optimizer state)
// on the clean training split of ds, true labels, for s.Epochs epochs, and evaluates
// after each epoch (claim C5: from an extreme point, minibatch descent escapes to a
// point that generalizes). ds must be the run's dataset (or a subset of it).
//
// backend nil means the Go backend. If outDir is not empty it is created (it must not
// hold files) and receives probe.json and restart.jsonl, rewritten after every epoch.
// Progress lines go to progress (nil: none). A diverging restart returns the epochs so
// far and an error wrapping experiment.ErrDiverged.
func Restart(ctx context.Context, backend compute.Backend, point Point, ds *datasets.Dataset, s RestartSettings, outDir string, progress io.Writer) ([]RestartEpoch, error) {
	backend, release, err := probeBackend(backend)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	s = s.WithDefaults()
	lp, out, err := startPointProbe("restart", backend, point, ds, s, outDir)
	if err != nil {
		return nil, err
	}
	progress = orDiscard(progress)
	start := time.Now()
	var lines []RestartEpoch
	record := func(epoch, step int, fit *experiment.FitEpoch) error {
		e := RestartEpoch{Epoch: epoch, Step: step}
		if e.PointEval, err = evalPoint(lp.net, ds, s.EvalBatchSize); err != nil {
			return err
		}
		w, err := lp.net.Weights()
		if err != nil {
			return err
		}
		fromStart, _, err := experiment.Distance(w, lp.start)
		if err != nil {
			return err
		}
		fromInit := math.NaN() // an imported run's initialization is not known
		if lp.init != nil {
			if fromInit, _, err = experiment.Distance(w, lp.init); err != nil {
				return err
			}
		}
		e.DistFromStart, e.DistFromInit = experiment.Float(fromStart), experiment.Float(fromInit)
		if fit != nil {
			loss, acc := experiment.Float(fit.Loss), experiment.Float(fit.Accuracy)
			e.FitLoss, e.FitAcc = &loss, &acc
		}
		e.Seconds = time.Since(start).Seconds()
		lines = append(lines, e)
		fmt.Fprintf(progress, "restart epoch %d/%d: train_acc %.4f test_acc %.4f train_loss %.4f dist_from_start %.3f\n",
			epoch, s.Epochs, float64(e.TrainAcc), float64(e.TestAcc), float64(e.TrainLoss), fromStart)
		return writeProbeLines(out, RestartFile, lines)
	}
	if err := record(0, 0, nil); err != nil {
		return lines, err
	}
	settings := experiment.Settings{Optimizer: s.Optimizer, BatchSize: s.BatchSize, Epochs: s.Epochs, Seed: s.Seed}
	err = lp.net.Fit(ctx, corrupt.Clean(ds), settings, func(e experiment.FitEpoch) error {
		return record(e.Epoch, e.Steps, &e)
	})
	if err != nil {
		return lines, fmt.Errorf("restart from %s: %w", point, err)
	}
	return lines, out.finish()
}
