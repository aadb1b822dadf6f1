package experiment

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/extremepoints/esp/corrupt"
	"github.com/extremepoints/esp/models"
)

// TestWeightsArithmetic checks Axpy, Scale and Dot on hand-computed values (exact in
// float32: small integers and halves); non-trainable tensors are left alone.
func TestWeightsArithmetic(t *testing.T) {
	w := &Weights{Tensors: []Tensor{
		{Name: "a", Shape: []int{2}, Data: []float32{1, 2}, Trainable: true},
		{Name: "running", Shape: []int{1}, Data: []float32{7}},
	}}
	x := &Weights{Tensors: []Tensor{
		{Name: "a", Shape: []int{2}, Data: []float32{3, -1}, Trainable: true},
		{Name: "running", Shape: []int{1}, Data: []float32{100}},
	}}
	if err := w.Axpy(0.5, x); err != nil {
		t.Fatal(err)
	}
	if got := w.Tensors[0].Data; got[0] != 2.5 || got[1] != 1.5 || w.Tensors[1].Data[0] != 7 {
		t.Errorf("Axpy: %v %v, want [2.5 1.5] [7]", got, w.Tensors[1].Data)
	}
	w.Scale(2)
	if got := w.Tensors[0].Data; got[0] != 5 || got[1] != 3 || w.Tensors[1].Data[0] != 7 {
		t.Errorf("Scale: %v %v, want [5 3] [7]", got, w.Tensors[1].Data)
	}
	if d, err := w.Dot(x); err != nil || d != 12 { // 5·3 + 3·(-1)
		t.Errorf("Dot = %v, %v; want 12", d, err)
	}
	bad := &Weights{Tensors: []Tensor{{Name: "b", Shape: []int{2}, Data: []float32{1, 2}, Trainable: true}, x.Tensors[1]}}
	if err := w.Axpy(1, bad); err == nil {
		t.Error("Axpy with mismatched tensors: no error")
	}
	if _, err := w.Dot(&Weights{}); err == nil {
		t.Error("Dot with mismatched tensors: no error")
	}
}

// TestFit trains a loaded net in place: the fit loss falls over the epochs, the weights
// move, the callback sees every epoch, and a second Fit with an absurd learning rate on
// SGD diverges with ErrDiverged (so the rate of the second call is the one used).
func TestFit(t *testing.T) {
	d := synthDataset(64, 16, 4, 4, 1, 3, 11)
	net := tinyMLP(t)
	before, _ := net.Weights()
	var epochs []FitEpoch
	s := Settings{Epochs: 4, BatchSize: 16, Optimizer: Optimizer{LearningRate: 0.03}}
	err := net.Fit(context.Background(), corrupt.Clean(d), s, func(e FitEpoch) error {
		epochs = append(epochs, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(epochs) != 4 || epochs[3].Steps != 16 || epochs[3].Loss >= epochs[0].Loss {
		t.Errorf("epochs %+v: want 4 epochs, 16 steps, falling loss", epochs)
	}
	after, _ := net.Weights()
	if l2, _, _ := Distance(before, after); l2 == 0 || math.IsNaN(l2) {
		t.Errorf("weights moved by %v", l2)
	}
	s.Optimizer = Optimizer{Name: SGD, LearningRate: 1e30}
	if err := net.Fit(context.Background(), corrupt.Clean(d), s, nil); !errors.Is(err, ErrDiverged) {
		t.Errorf("SGD with lr 1e30: %v, want ErrDiverged", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := net.Fit(ctx, corrupt.Clean(d), s, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestNetLabelChecks: labels outside the net's classes are refused by Evaluate, Gradient
// and Fit, naming the label and the classes, rather than indexing past the logits or
// training on all-zero one-hots.
func TestNetLabelChecks(t *testing.T) {
	net := tinyMLP(t)
	fourClasses := synthDataset(16, 8, 4, 4, 1, 4, 11)
	clear(fourClasses.Test.Labels)
	fourClasses.Test.Labels[5] = 3
	short := fourClasses.Test.Labels[:4]
	tests := []struct {
		name, want string
		call       func() error
	}{
		{"Evaluate, label 3", "example 5 has label 3, but the net has 3 classes", func() error {
			_, err := net.Evaluate(fourClasses.Test, 0)
			return err
		}},
		{"Evaluate, too few labels", "4 labels for 8 examples", func() error {
			_, err := net.Evaluate(fourClasses.Test, 0, short)
			return err
		}},
		{"Gradient, label 3", "example 5 has label 3", func() error {
			_, _, err := net.Gradient(fourClasses.Test, 0, nil)
			return err
		}},
		{"Fit, 4 classes", "has 4 classes, the net 3", func() error {
			return net.Fit(context.Background(), corrupt.Clean(fourClasses), Settings{Epochs: 1}, nil)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// TestStepperRate: a Stepper steps at its settings' rate, also on a net whose earlier
// cosine-scheduled Fit left a rate of 0 in the store.
func TestStepperRate(t *testing.T) {
	d := synthDataset(32, 8, 4, 4, 1, 3, 5)
	net := tinyMLP(t)
	cosine := Settings{Epochs: 2, BatchSize: 16, Optimizer: Optimizer{LearningRate: 0.01, Schedule: ScheduleCosine}}
	if err := net.Fit(context.Background(), corrupt.Clean(d), cosine, nil); err != nil {
		t.Fatal(err)
	}
	stepper, err := NewStepper(net, Settings{Optimizer: Optimizer{Name: SGD, LearningRate: 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	images := make([]float32, 4*4*4)
	for i := range images {
		images[i] = float32(i%7) / 7
	}
	before, _ := net.Weights()
	if _, err := stepper.Step(images, []int32{0, 1, 2, 0}); err != nil {
		t.Fatal(err)
	}
	after, _ := net.Weights()
	if l2, _, _ := Distance(before, after); !(l2 > 1e-3) {
		t.Errorf("a step at rate 0.5 moved the weights by %g", l2)
	}
	// A label outside the net's classes is refused before any step.
	for _, bad := range [][]int32{{0, 1, 3, 0}, {0, -1, 2, 0}} {
		if _, err := stepper.Step(images, bad); err == nil || !strings.Contains(err.Error(), "the net has 3 classes") {
			t.Errorf("labels %v: err %v, want one naming the classes", bad, err)
		}
	}
	if again, _ := net.Weights(); !slices.Equal(again.Tensors[0].Data, after.Tensors[0].Data) {
		t.Error("a refused step changed the weights")
	}
}

// TestSaveImportedRunNonFinite: weights holding NaN are refused before anything is
// written, naming the tensor.
func TestSaveImportedRunNonFinite(t *testing.T) {
	d := synthDataset(32, 8, 4, 4, 1, 3, 5)
	net := tinyMLP(t)
	w, _ := net.Weights()
	w.Tensors[0].Data[3] = float32(math.NaN())
	out := filepath.Join(t.TempDir(), "imported")
	_, err := SaveImportedRun(net.Backend, d, Settings{Model: "mlp", ModelConfig: models.Config{Hidden: 8}}, w, ImportInfo{}, out)
	if !errors.Is(err, ErrNonFiniteWeights) || !strings.Contains(err.Error(), w.Tensors[0].Name+" holds NaN at index 3") {
		t.Errorf("error %v, want %v naming the tensor", err, ErrNonFiniteWeights)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("%s was created (%v)", out, err)
	}
}

// tinyMLP is a 3-class MLP (hidden width 8) for 4x4x1 images on the Go backend, seed 2.
func tinyMLP(t *testing.T) *Net {
	t.Helper()
	backend, err := NewBackend("go")
	if err != nil {
		t.Fatal(err)
	}
	net, err := NewNet(backend, "mlp", models.Config{Classes: 3, Hidden: 8}, 4, 4, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	return net
}
