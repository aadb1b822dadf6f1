package experiment

import (
	"fmt"
	"math"

	"github.com/extremepoints/esp/corrupt"
	"github.com/extremepoints/esp/models"
)

// Optimizer names.
const (
	Adam = "adam"
	SGD  = "sgd"
)

// Optimizer configures the optimizer. The zero value is the paper's: Adam, learning
// rate 1e-3, betas 0.9 and 0.999, epsilon 1e-8.
type Optimizer struct {
	// Name is "adam" (default) or "sgd".
	Name string `json:"name,omitempty"`
	// LearningRate defaults to 1e-3 for Adam and 1e-2 for SGD.
	LearningRate float64 `json:"learning_rate,omitempty"`
	// Epsilon is Adam's denominator term. Default 1e-8 (PyTorch's; GoMLX's default is 1e-7).
	Epsilon float64 `json:"epsilon,omitempty"`
	// Beta1 and Beta2 are Adam's moment decay rates. Defaults 0.9 and 0.999.
	Beta1 float64 `json:"beta1,omitempty"`
	Beta2 float64 `json:"beta2,omitempty"`
	// Momentum is SGD's (heavy-ball, PyTorch's formulation) momentum. Default 0 (plain SGD).
	Momentum float64 `json:"momentum,omitempty"`
	// Schedule of the learning rate over the run: "constant" (default, the paper's) or
	// "cosine" (from LearningRate down to 0 at the last step, half a cosine period).
	Schedule string `json:"schedule,omitempty"`
}

// Schedule names.
const (
	ScheduleConstant = "constant"
	ScheduleCosine   = "cosine"
)

// learningRateAt returns the learning rate of step (0-based) out of totalSteps.
func (o Optimizer) learningRateAt(step, totalSteps int) float64 {
	if o.Schedule != ScheduleCosine || totalSteps <= 1 {
		return o.LearningRate
	}
	return o.LearningRate * (1 + math.Cos(math.Pi*float64(step)/float64(totalSteps-1))) / 2
}

// WithDefaults returns o with every zero field replaced by its default.
func (o Optimizer) WithDefaults() Optimizer {
	if o.Name == "" {
		o.Name = Adam
	}
	if o.Schedule == "" {
		o.Schedule = ScheduleConstant
	}
	if o.LearningRate == 0 {
		o.LearningRate = 1e-3
		if o.Name == SGD {
			o.LearningRate = 1e-2
		}
	}
	if o.Name == Adam {
		if o.Epsilon == 0 {
			o.Epsilon = 1e-8
		}
		if o.Beta1 == 0 {
			o.Beta1 = 0.9
		}
		if o.Beta2 == 0 {
			o.Beta2 = 0.999
		}
	}
	return o
}

// Settings describes one training run. The zero value of every field is its
// documented default; Settings is recorded whole in config.json.
type Settings struct {
	// Dataset is the dataset's registry name, recorded for reruns. Train fills it from
	// the training set when empty.
	Dataset string `json:"dataset,omitempty"`
	// Subset, when positive, is the number of examples per split the caller loaded
	// (datasets' Head); recorded for reruns. Default 0: everything.
	Subset int `json:"subset,omitempty"`
	// Model is the architecture's registry name (see models.Names). Default "mlp".
	Model string `json:"model,omitempty"`
	// ModelConfig configures the architecture; its zero value is the paper's.
	ModelConfig models.Config `json:"model_config"`
	// Corruption is how the caller built a corrupted training set (corrupt.Build),
	// recorded for reruns; Train does not read it (a run is corrupted when its
	// set is: config.json's dataset.corrupted). The zero value is corrupt.Build's
	// default, the paper's wrong-uniform protocol.
	Corruption corrupt.Settings `json:"corruption"`
	// Optimizer defaults to Adam, lr 1e-3, eps 1e-8.
	Optimizer Optimizer `json:"optimizer"`
	// BatchSize is the minibatch size. Default 128.
	BatchSize int `json:"batch_size,omitempty"`
	// Epochs is the number of passes over the training set. Default 11 (the authors' LeNet
	// runs; their MLP ran 50).
	Epochs int `json:"epochs,omitempty"`
	// WeightDecay is the L2 coefficient λ: λ/2·Σ‖w‖² over all trainable parameters is
	// added to the training loss (the same as PyTorch's weight_decay=λ). Default 0.
	WeightDecay float64 `json:"weight_decay,omitempty"`
	// Seed fixes the initialization and the data order. 0 is a valid seed.
	Seed uint64 `json:"seed"`
	// Backend is the compute backend name, see NewBackend. Default "go".
	Backend string `json:"backend,omitempty"`
	// EvalBatchSize is the batch size of evaluation passes. Default 1000.
	EvalBatchSize int `json:"eval_batch_size,omitempty"`
	// StepsPerCall is the number of training steps one call of the compiled graph takes:
	// with K > 1 the graph holds K optimizer steps one after the other, each on its own
	// minibatch, so that an accelerator gets one launch, and the host one round trip,
	// for K steps. The steps are the ones K calls would take (bit for bit on the Go
	// backend); the epoch's last steps that do not fill K are taken one by one. A run
	// whose loss stops being finite inside a call still finishes that call's steps before
	// it stops. It needs the constant learning-rate schedule, and is for runs trained
	// alone (not in an ensemble). Default 1.
	StepsPerCall int `json:"steps_per_call,omitempty"`
}

// Defaults of Settings' sizes that other packages' settings share (the probes').
const (
	DefaultBatchSize     = 128  // the paper's minibatch
	DefaultEvalBatchSize = 1000 // evaluation passes; it does not change results
)

// WithDefaults returns s with every zero field replaced by its default.
func (s Settings) WithDefaults() Settings {
	if s.Model == "" {
		s.Model = "mlp"
	}
	s.ModelConfig = s.ModelConfig.WithDefaults()
	s.Optimizer = s.Optimizer.WithDefaults()
	if s.BatchSize == 0 {
		s.BatchSize = DefaultBatchSize
	}
	if s.Epochs == 0 {
		s.Epochs = 11
	}
	if s.Backend == "" {
		s.Backend = "go"
	}
	if s.EvalBatchSize == 0 {
		s.EvalBatchSize = DefaultEvalBatchSize
	}
	return s
}

// MaxEpochs bounds a run's epochs: far beyond any protocol (the authors' longest ran
// 1200), and what the step counts and time estimates hold.
const MaxEpochs = 1_000_000

// MaxStepsPerCall bounds StepsPerCall: the graph holds that many steps one after the
// other, so it compiles for longer the more it holds, and an accelerator's launches are
// paid for long before (about an epoch of MNIST's corrupted set at batch 128).
const MaxStepsPerCall = 1024

// Validate reports invalid settings, naming the valid choices.
func (s Settings) Validate() error {
	s = s.WithDefaults()
	if _, err := models.New(s.Model, s.ModelConfig); err != nil {
		return err
	}
	o := s.Optimizer
	// Not finite, a number would train nothing and could not be recorded: config.json
	// (JSON has no NaN or infinity) failed to be written after the run's folder was made.
	for _, v := range []struct {
		name  string
		value float64
	}{{"learning rate", o.LearningRate}, {"epsilon", o.Epsilon}, {"beta1", o.Beta1}, {"beta2", o.Beta2},
		{"momentum", o.Momentum}, {"weight decay", s.WeightDecay}} {
		if math.IsNaN(v.value) || math.IsInf(v.value, 0) {
			return fmt.Errorf("experiment: %s %g: want a finite number", v.name, v.value)
		}
	}
	switch o.Name {
	case Adam:
		if o.Epsilon < 0 || o.Beta1 < 0 || o.Beta1 >= 1 || o.Beta2 < 0 || o.Beta2 >= 1 {
			return fmt.Errorf("experiment: invalid Adam parameters %+v", o)
		}
	case SGD:
		if o.Momentum < 0 || o.Momentum >= 1 {
			return fmt.Errorf("experiment: SGD momentum %g not in [0, 1)", o.Momentum)
		}
	default:
		return fmt.Errorf("experiment: unknown optimizer %q, want %q or %q", o.Name, Adam, SGD)
	}
	if o.Schedule != ScheduleConstant && o.Schedule != ScheduleCosine {
		return fmt.Errorf("experiment: unknown learning-rate schedule %q, want %q or %q", o.Schedule, ScheduleConstant, ScheduleCosine)
	}
	switch {
	case o.LearningRate < 0:
		return fmt.Errorf("experiment: negative learning rate %g", o.LearningRate)
	case s.BatchSize < 0 || s.EvalBatchSize < 0:
		return fmt.Errorf("experiment: negative batch size")
	case s.Epochs < 0:
		return fmt.Errorf("experiment: negative number of epochs %d", s.Epochs)
	case s.Epochs > MaxEpochs:
		return fmt.Errorf("experiment: %d epochs: at most %d", s.Epochs, MaxEpochs)
	case s.WeightDecay < 0:
		return fmt.Errorf("experiment: negative weight decay %g", s.WeightDecay)
	case s.Subset < 0:
		return fmt.Errorf("experiment: negative subset %d", s.Subset)
	case s.StepsPerCall < 0:
		return fmt.Errorf("experiment: negative steps per call %d", s.StepsPerCall)
	case s.StepsPerCall > MaxStepsPerCall:
		return fmt.Errorf("experiment: %d steps per call: at most %d", s.StepsPerCall, MaxStepsPerCall)
	case s.StepsPerCall > 1 && o.Schedule != ScheduleConstant:
		return fmt.Errorf("experiment: %d steps per call need the constant learning-rate schedule, not %q (the rate would have to change inside a call)", s.StepsPerCall, o.Schedule)
	}
	return nil
}
