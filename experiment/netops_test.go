package experiment

import (
	"context"
	"errors"
	"math"
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
	backend, _ := NewBackend("go")
	net, err := NewNet(backend, "mlp", models.Config{Classes: 3, Hidden: 8}, 4, 4, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := net.Weights()
	var epochs []FitEpoch
	s := Settings{Epochs: 4, BatchSize: 16, Optimizer: Optimizer{LearningRate: 0.03}}
	err = net.Fit(context.Background(), corrupt.Clean(d), s, func(e FitEpoch) error {
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
