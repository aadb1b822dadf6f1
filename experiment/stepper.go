package experiment

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"
)

// Stepper runs single training steps of a Net outside Train: the same graph as Train's
// (loss, weight decay, optimizer update), fed by the caller. It is meant for
// benchmarks and experiments on the optimizer; it keeps no metrics and writes nothing.
//
// Learning-rate schedules are not applied: every step uses the settings' learning rate
// (not one a schedule of an earlier Net.Fit left in the net's store). A Stepper is not
// safe for concurrent use, nor for use while the same Net is being trained by Train.
type Stepper struct {
	net  *Net
	exec *gmodel.Exec
}

// NewStepper returns a Stepper that trains net with settings s (zero fields take their
// defaults; only the optimizer and WeightDecay matter). The graph is compiled on the
// first Step, and again whenever the batch size changes.
func NewStepper(net *Net, s Settings) (*Stepper, error) {
	if net == nil {
		return nil, fmt.Errorf("experiment: nil net")
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	s = s.WithDefaults()
	exec, err := newTrainStep(net, s)
	if err != nil {
		return nil, err
	}
	// A rate left in the store by an earlier Fit would override s's; with none there yet,
	// the first compilation creates it with s's.
	if err := setLearningRate(net.Store, s.Optimizer.LearningRate); err != nil {
		return nil, err
	}
	return &Stepper{net: net, exec: exec}, nil
}

// Step runs one optimizer step on a batch: images holds len(labels) images of the net's
// shape, flattened in [batch, height, width, channels] order, with values as the models
// see them in Train (pixel·(1/255)); labels are class indices. It returns the batch's mean loss
// before the update.
func (s *Stepper) Step(images []float32, labels []int32) (loss float64, err error) {
	n := s.net
	batch := len(labels)
	if batch == 0 {
		return 0, fmt.Errorf("experiment: empty batch")
	}
	if want := batch * n.Height * n.Width * n.Channels; len(images) != want {
		return 0, fmt.Errorf("experiment: %d image values for %d labels of %dx%dx%d images, want %d",
			len(images), batch, n.Height, n.Width, n.Channels, want)
	}
	classes := n.Model.Config().Classes
	for i, l := range labels {
		if l < 0 || int(l) >= classes { // its one-hot would be all zeros: a step on nothing
			return 0, fmt.Errorf("experiment: example %d has label %d, but the net has %d classes (0 to %d)", i, l, classes, classes-1)
		}
	}
	x := tensors.FromShape(shapes.Make(dtypes.Float32, batch, n.Height, n.Width, n.Channels))
	defer x.FinalizeAll()
	if err := tensors.MutableFlatData(x, func(flat []float32) { copy(flat, images) }); err != nil {
		return 0, err
	}
	y := tensors.FromFlatDataAndDimensions(labels, batch)
	out, err := s.exec.Call(x, y)
	if err != nil {
		return 0, fmt.Errorf("experiment: training step: %w", err)
	}
	values, err := tensors.CopyFlatData[float32](out[0])
	if err != nil {
		return 0, err
	}
	return float64(values[0]), nil
}
