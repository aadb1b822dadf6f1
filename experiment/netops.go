package experiment

import (
	"context"
	"errors"
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/extremepoints/esp/corrupt"
)

// Operations on a Net and its Weights that probes build on: training a loaded net in
// place, and weights arithmetic.

// ErrDiverged is returned by Net.Fit when the training loss becomes non-finite.
var ErrDiverged = errors.New("experiment: training loss is not finite: diverged")

// FitEpoch is what Net.Fit reports after each epoch.
type FitEpoch struct {
	// Epoch counts from 1; Steps is the number of optimizer steps taken so far.
	Epoch, Steps int
	// Loss and Accuracy are the means over the epoch's minibatches (training mode) on
	// the set trained on.
	Loss, Accuracy float64
}

// Fit trains n in place on set, starting from its current weights, for s.Epochs epochs
// with s.Optimizer, s.BatchSize, s.WeightDecay, the learning-rate schedule and
// s.StepsPerCall, shuffling with s.Seed as Train does. The other fields of s are
// ignored. onEpoch (may be nil) is called after every epoch; an error it returns stops
// training and is returned.
//
// The optimizer's state (Adam's moments) lives in n.Store: a first Fit on a net fresh
// from LoadNet starts it from zero; a second Fit continues it.
// A non-finite training loss stops training with ErrDiverged.
func (n *Net) Fit(ctx context.Context, set *corrupt.Set, s Settings, onEpoch func(FitEpoch) error) error {
	return recoverError(func() error { return n.fit(ctx, set, s, onEpoch) })
}

func (n *Net) fit(ctx context.Context, set *corrupt.Set, s Settings, onEpoch func(FitEpoch) error) error {
	if set == nil || set.Len() == 0 {
		return fmt.Errorf("experiment: empty training set")
	}
	if err := n.checkSplit(set.Dataset.Train); err != nil {
		return err
	}
	if c, netClasses := set.Dataset.NumClasses(), n.Model.Config().Classes; c > netClasses {
		return fmt.Errorf("experiment: %s has %d classes, the net %d", set.Dataset.Name, c, netClasses)
	}
	s.Model, s.ModelConfig = n.Model.Name(), n.Model.Config()
	if err := s.Validate(); err != nil {
		return err
	}
	s = s.WithDefaults()
	step, err := newTrainStep(n, s)
	if err != nil {
		return err
	}
	rng := dataOrder(s.Seed)
	total := set.Len()
	bs := min(s.BatchSize, total)
	stepsPerEpoch := (total + bs - 1) / bs
	steps := 0
	for epoch := 1; epoch <= s.Epochs; epoch++ {
		// The rate is set before every call, not only for schedules: a learning-rate
		// variable left in the store by an earlier Fit must not override this one's rate.
		e, err := trainEpoch(ctx, step, set, rng.Perm(total), s, func(taken int) error {
			return setLearningRate(n.Store, s.Optimizer.learningRateAt(steps+taken, s.Epochs*stepsPerEpoch))
		}, func(*epochSteps) {})
		steps += e.steps
		if err != nil {
			return err
		}
		if e.diverged {
			return fmt.Errorf("%w (epoch %d, step %d)", ErrDiverged, epoch, steps)
		}
		if onEpoch != nil {
			if err := onEpoch(FitEpoch{Epoch: epoch, Steps: steps, Loss: e.lossSum / float64(total), Accuracy: e.correctSum / float64(total)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// minibatch gathers the examples idx of set: their images as one uint8 tensor
// [len(idx), H, W, C] (the graphs scale them, see unitPixels), and the labels they are
// trained on. With steps > 1 it is the minibatches of that many steps, idx split evenly:
// images [steps, len(idx)/steps, H, W, C] and labels [steps, len(idx)/steps].
func minibatch(set *corrupt.Set, idx []int, steps int) (images, labels *tensors.Tensor, err error) {
	split := set.Dataset.Train
	dims := []int{len(idx)}
	if steps > 1 {
		dims = []int{steps, len(idx) / steps}
	}
	images = tensors.FromShape(shapes.Make(dtypes.Uint8, append(dims, split.Height, split.Width, split.Channels)...))
	assigned := make([]int32, len(idx))
	if err := tensors.MutableFlatData(images, func(flat []uint8) { gather(set, idx, flat, assigned) }); err != nil {
		return nil, nil, err
	}
	return images, tensors.FromFlatDataAndDimensions(assigned, dims...), nil
}

// gather copies the images of set's examples idx into images and the labels they are
// trained on into labels.
func gather(set *corrupt.Set, idx []int, images []uint8, labels []int32) {
	size := set.Dataset.Train.ImageSize()
	for i, j := range idx {
		copy(images[i*size:(i+1)*size], set.Image(j))
		labels[i] = int32(set.Examples[j].Label)
	}
}

// CheckSameTensors reports, as an error, where a and b do not hold the same tensors (names
// and sizes, in order): weights of other models, which no arithmetic between them means.
func CheckSameTensors(a, b *Weights) error {
	if len(a.Tensors) != len(b.Tensors) {
		return fmt.Errorf("experiment: weights with %d and %d tensors", len(a.Tensors), len(b.Tensors))
	}
	for i, ta := range a.Tensors {
		tb := b.Tensors[i]
		if ta.Name != tb.Name || len(ta.Data) != len(tb.Data) {
			return fmt.Errorf("experiment: tensor %d is %q (%d values) and %q (%d values)",
				i, ta.Name, len(ta.Data), tb.Name, len(tb.Data))
		}
	}
	return nil
}

// Axpy sets w to w + a·x on the trainable tensors (x's non-trainable tensors, such as
// batch-norm running statistics, are not added: a gradient or a direction has none).
// w and x must hold the same tensors. The sum is computed in float64 and rounded once.
func (w *Weights) Axpy(a float64, x *Weights) error {
	if err := CheckSameTensors(w, x); err != nil {
		return err
	}
	for i := range w.Tensors {
		t := &w.Tensors[i]
		if !t.Trainable {
			continue
		}
		for j, v := range x.Tensors[i].Data {
			t.Data[j] = float32(float64(t.Data[j]) + a*float64(v))
		}
	}
	return nil
}

// Scale multiplies the trainable tensors of w by a.
func (w *Weights) Scale(a float64) {
	for i := range w.Tensors {
		t := &w.Tensors[i]
		if !t.Trainable {
			continue
		}
		for j, v := range t.Data {
			t.Data[j] = float32(a * float64(v))
		}
	}
}

// Dot returns Σ w·x over the trainable tensors, accumulated in float64. w and x must
// hold the same tensors.
func (w *Weights) Dot(x *Weights) (float64, error) {
	if err := CheckSameTensors(w, x); err != nil {
		return 0, err
	}
	var sum float64
	for i, t := range w.Tensors {
		if !t.Trainable {
			continue
		}
		for j, v := range t.Data {
			sum += float64(v) * float64(x.Tensors[i].Data[j])
		}
	}
	return sum, nil
}

// ToolkitVersion returns the toolkit's version as recorded in config.json: the module
// version, else "devel+" and the VCS revision, else "devel".
func ToolkitVersion() string {
	v, _, _ := versions()
	return v
}
