package models

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	gmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Formulation selects how convolution and max-pooling are written in the graph.
type Formulation string

const (
	// Auto picks [Matmul] on the pure-Go backend ("go") and [Native] on any other.
	Auto Formulation = ""
	// Matmul writes a convolution as shifted slices + concatenation + one matmul, with a
	// hand-written input gradient, and 2x2 max-pooling as a reshape that puts each window
	// on an axis, summed against a one-hot of its first maximum (the gradient goes to that
	// input alone, as PyTorch's and XLA's do). Fast and differentiable on the Go backend.
	Matmul Formulation = "matmul"
	// Native uses the backend's convolution and reduce-window ops (graph.Convolve, graph.MaxPool).
	Native Formulation = "native"
	// Autodiff writes convolution as Matmul does, as patches and one matmul, and dense
	// layers as plain matmuls, with gradients that can be differentiated again by GoMLX's
	// autodiff: Matmul's hand-written input gradient stops the gradient of the patches,
	// which drops a term of the second derivative (its Hessian is not symmetric), and its
	// Gathers differentiate into Scatters. A stride-1 convolution's gradients are written
	// out as convolutions and products with patches, whose own gradients are written out
	// the same way, so that no Gather is differentiated; other convolutions are shifted
	// slices with every gradient left to autodiff. Slower to train on the Go backend than
	// Matmul. Exact Hessian-vector products build the models with it.
	Autodiff Formulation = "autodiff"
)

// Config holds the architecture options. The zero value of every field selects its
// documented default, so Config{} is the paper's setting for a 10-class problem (but
// for ResNet, whose authors' shortcuts are 3x3: Shortcut3x3).
type Config struct {
	// Classes is the number of output logits. Default 10.
	Classes int `json:"classes,omitempty"`
	// Hidden is the width of the MLP's hidden layer. Default 512.
	Hidden int `json:"hidden,omitempty"`
	// FCHidden is the width of LeNet's first fully connected layer. Default 84.
	FCHidden int `json:"fc_hidden,omitempty"`
	// Convs is the number of LeNet's convolutions (16, 32, 64 filters, in that order):
	// 1 to 3. Zero means 3: WithDefaults turns 3 into 0, so that the configurations
	// recorded before this field existed still compare equal. The authors' smaller CNN
	// (their "AlexNet" folder) has 2.
	Convs int `json:"convs,omitempty"`
	// FCReLU adds a ReLU between LeNet's two fully connected layers. Default false,
	// as in the authors' code (their paper's text has one).
	FCReLU bool `json:"fc_relu,omitempty"`
	// Blocks is the number of basic blocks per ResNet stage. Default 2.
	Blocks int `json:"blocks,omitempty"`
	// Shortcut3x3 makes the ResNet's projection shortcuts (where a stage changes the
	// shape) 3x3 convolutions with padding 1, as in the authors' code, instead of the
	// usual 1x1. Default false.
	Shortcut3x3 bool `json:"shortcut_3x3,omitempty"`
	// BatchNormMomentum is the weight of the current batch in the running statistics
	// of batch normalization (PyTorch's convention). Default 0.1.
	BatchNormMomentum float64 `json:"batch_norm_momentum,omitempty"`
	// BatchNormEpsilon is added to the variance in batch normalization. Default 1e-5.
	BatchNormEpsilon float64 `json:"batch_norm_epsilon,omitempty"`
	// Formulation of convolution and pooling; default [Auto] (chosen by backend).
	Formulation Formulation `json:"formulation,omitempty"`
}

// WithDefaults returns c with every zero field replaced by its default.
func (c Config) WithDefaults() Config {
	if c.Classes == 0 {
		c.Classes = 10
	}
	if c.Hidden == 0 {
		c.Hidden = 512
	}
	if c.FCHidden == 0 {
		c.FCHidden = 84
	}
	if c.Blocks == 0 {
		c.Blocks = 2
	}
	if c.Convs == LeNetMaxConvs {
		c.Convs = 0 // all of them, spelled as before Convs existed
	}

	if c.BatchNormMomentum == 0 {
		c.BatchNormMomentum = 0.1
	}
	if c.BatchNormEpsilon == 0 {
		c.BatchNormEpsilon = 1e-5
	}
	return c
}

// Bounds of Config's sizes: far above any model of the study, and low enough that a
// typo fails validation rather than exhausting memory (a 784 x 65536 layer is 200 MB).
const (
	MaxWidth  = 1 << 16 // Hidden, FCHidden
	MaxBlocks = 64      // ResNet blocks per stage
)

// Validate reports an invalid configuration.
func (c Config) Validate() error {
	c = c.WithDefaults()
	switch {
	case c.Classes < 2:
		return fmt.Errorf("models: %d classes, want at least 2", c.Classes)
	case c.Hidden < 0 || c.FCHidden < 0 || c.Blocks < 0:
		return fmt.Errorf("models: negative layer size in %+v", c)
	case c.Hidden > MaxWidth || c.FCHidden > MaxWidth:
		return fmt.Errorf("models: hidden width %d, want at most %d", max(c.Hidden, c.FCHidden), MaxWidth)
	case c.Blocks > MaxBlocks:
		return fmt.Errorf("models: %d ResNet blocks per stage, want at most %d", c.Blocks, MaxBlocks)
	case c.Convs < 0 || c.Convs > LeNetMaxConvs:
		return fmt.Errorf("models: LeNet with %d convolutions, want 1 to %d (0: %d)", c.Convs, LeNetMaxConvs, LeNetMaxConvs)
	case !(c.BatchNormMomentum >= 0 && c.BatchNormMomentum <= 1): // NaN too
		return fmt.Errorf("models: batch norm momentum %g not in [0, 1]", c.BatchNormMomentum)
	case !(c.BatchNormEpsilon >= 0 && !math.IsInf(c.BatchNormEpsilon, 1)):
		return fmt.Errorf("models: batch norm epsilon %g, want a finite number >= 0", c.BatchNormEpsilon)
	}
	switch c.Formulation {
	case Auto, Matmul, Native, Autodiff:
	default:
		return fmt.Errorf("models: unknown formulation %q, want %q, %q, %q or %q (auto)", c.Formulation, Matmul, Native, Autodiff, Auto)
	}
	return nil
}

// Model is one architecture with its configuration.
type Model struct {
	name          string
	config        Config
	build         buildFn
	buildEnsemble ensembleBuildFn // nil: no stacked form
}

type buildFn func(m *Model, scope *gmodel.Scope, images *graph.Node, training bool) *graph.Node

// ensembleBuildFn builds K members at once, member i's variables in scopes[i]: images
// [K, batch, H, W, C] to logits [K, batch, classes].
type ensembleBuildFn func(m *Model, scopes []*gmodel.Scope, images *graph.Node, training bool) *graph.Node

// Name returns the registry name of the architecture.
func (m *Model) Name() string { return m.name }

// Config returns the configuration, defaults filled in.
func (m *Model) Config() Config { return m.config }

// Logits builds the model's graph: images shaped [batch, height, width, channels]
// (float32) to logits shaped [batch, classes]. Variables are created in scope (with
// Xavier-uniform initialization of weights and zero biases) on first use and reused
// afterwards. With training set, batch normalization uses batch statistics and
// updates its running statistics; otherwise it uses the running statistics.
//
// It is a graph-building function: it panics on error, as GoMLX's graph functions do;
// the executors (gmodel.Exec) turn such panics into errors.
func (m *Model) Logits(scope *gmodel.Scope, images *graph.Node, training bool) *graph.Node {
	if images.Rank() != 4 {
		exceptions.Panicf("models.%s: images must be shaped [batch, height, width, channels], got %s", m.name, images.Shape())
	}
	dims := images.Shape().Dimensions
	if err := m.CheckInput(dims[1], dims[2], dims[3]); err != nil {
		panic(err) // the executors return it as their error
	}
	scope = scope.WithInitializer(initializer.XavierUniformFn(scope))
	return m.build(m, scope, images, training)
}

// EnsembleLogits builds the logits of K members of the model at once: member i's
// variables in scopes[i] (the ones Logits creates there), images [K, batch, height, width,
// channels] to logits [K, batch, classes], with the members' weights stacked on a leading
// axis so that each layer is one batched operation for all of them. ok is false for a
// model without such a form (only the MLP has one): build Logits per member instead.
func (m *Model) EnsembleLogits(scopes []*gmodel.Scope, images *graph.Node, training bool) (logits *graph.Node, ok bool) {
	if m.buildEnsemble == nil {
		return nil, false
	}
	if images.Rank() != 5 || images.Shape().Dim(0) != len(scopes) {
		exceptions.Panicf("models.%s: ensemble images must be shaped [%d members, batch, height, width, channels], got %s",
			m.name, len(scopes), images.Shape())
	}
	withInit := make([]*gmodel.Scope, len(scopes))
	for i, scope := range scopes {
		withInit[i] = scope.WithInitializer(initializer.XavierUniformFn(scope))
	}
	return m.buildEnsemble(m, withInit, images, training), true
}

// formulation resolves Auto for the backend of g.
func (m *Model) formulation(g *graph.Graph) Formulation {
	return resolveFormulation(m.config.Formulation, g)
}

func resolveFormulation(f Formulation, g *graph.Graph) Formulation {
	if f != Auto {
		return f
	}
	if IsGoBackend(g.Backend()) {
		return Matmul
	}
	return Native
}

// IsGoBackend reports whether b is GoMLX's pure-Go backend (whose Name is
// "Go Backend" and String "go").
func IsGoBackend(b compute.Backend) bool {
	return b.String() == "go" || b.Name() == "Go Backend"
}

type entry struct {
	description   string
	build         buildFn
	buildEnsemble ensembleBuildFn // optional: see Model.EnsembleLogits
	// pools is the number of 2x2 max-pools (each halving the height and width, rounding
	// down) the model applies to images of a shape; nil for none. The ResNet's strided
	// convolutions are padded: they round up, and take any size down to 1x1.
	pools func(c Config, height, width, channels int) int
}

var registry = map[string]entry{
	"mlp":    {"multilayer perceptron: flatten -> dense 512 -> ReLU -> dense classes", buildMLP, buildEnsembleMLP, nil},
	"lenet":  {"LeNet-like CNN: conv5x5 16/32/64 + ReLU + 2x2 max-pool, fc 84, fc classes", buildLeNet, nil, Config.leNetPools},
	"resnet": {"CIFAR-style ResNet: 3 stages of 2 basic blocks (16/32/64 channels), batch norm, fc 64 -> classes", buildResNet, nil, nil},
}

// ErrInputTooSmall is the error (wrapped) of a model given images smaller than it takes.
var ErrInputTooSmall = errors.New("images too small for the model")

// CheckInput reports an image shape the model cannot take: images of height x width
// with channels channels. Each of LeNet's 2x2 max-pools halves the height and width,
// rounding down, so it needs 4x4 images (2x2 with one convolution); the MLP and the
// ResNet take any size. An error too small wraps [ErrInputTooSmall] and names the model,
// the smallest size it takes and the size given.
func (m *Model) CheckInput(height, width, channels int) error {
	if height <= 0 || width <= 0 || channels <= 0 {
		return fmt.Errorf("models: %s: invalid image shape %dx%dx%d", m.name, height, width, channels)
	}
	pools := 0
	if f := registry[m.name].pools; f != nil {
		pools = f(m.config, height, width, channels)
	}
	if side := 1 << pools; height < side || width < side {
		halves := map[int]string{1: "once", 2: "twice"}[pools]
		if halves == "" {
			halves = fmt.Sprintf("%d times", pools)
		}
		return fmt.Errorf("models: %w: %s halves the images %s (2x2 max-pools), so it needs at least %dx%d pixels; these are %dx%d (mlp and resnet take any size)",
			ErrInputTooSmall, m.name, halves, side, side, width, height)
	}
	return nil
}

// Names returns the registered architecture names, sorted.
func Names() []string {
	names := make([]string, 0, len(registry))
	for name := range registry {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Describe returns the one-line description of a registered architecture ("" if unknown).
func Describe(name string) string { return registry[name].description }

// New returns the named architecture with the given configuration (zero fields take
// their defaults). An unknown name or an invalid configuration is an error.
func New(name string, config Config) (*Model, error) {
	e, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("models: unknown model %q, valid names: %s", name, strings.Join(Names(), ", "))
	}
	if err := config.Validate(); err != nil {
		return nil, err
	}
	return &Model{name: name, config: config.WithDefaults(), build: e.build, buildEnsemble: e.buildEnsemble}, nil
}
