package models

import (
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"
)

// TestShapesAndParameters builds every model on MNIST- and CIFAR-shaped inputs, in
// both formulations, and checks the logits' shape and the number of trainable
// parameters against hand counts.
func TestShapesAndParameters(t *testing.T) {
	backend := testBackend(t)
	tests := []struct {
		model   string
		h, w, c int
		config  Config
		params  int // trainable; 0 = don't check
	}{
		// 784*512+512 + 512*10+10
		{"mlp", 28, 28, 1, Config{}, 407050},
		{"mlp", 4, 4, 3, Config{Hidden: 7, Classes: 3}, 48*7 + 7 + 7*3 + 3},
		// convs: 5*5*1*16+16, 5*5*16*32+32, 5*5*32*64+64; fc: 7*7*64*84+84, 84*10+10
		{"lenet", 28, 28, 1, Config{}, 416 + 12832 + 51264 + 263508 + 850},
		// CIFAR: third pool, 4*4*64 features.
		{"lenet", 32, 32, 3, Config{FCReLU: true}, 1216 + 12832 + 51264 + (1024*84 + 84) + 850},
		{"lenet", 28, 28, 1, Config{Formulation: Native}, 416 + 12832 + 51264 + 263508 + 850},
		{"resnet", 28, 28, 1, Config{}, 0},
		{"resnet", 32, 32, 3, Config{Blocks: 1, Formulation: Native}, 0},
	}
	for _, tc := range tests {
		m, err := New(tc.model, tc.config)
		if err != nil {
			t.Fatal(err)
		}
		for _, training := range []bool{true, false} {
			store := gmodel.NewStore()
			images := tensors.FromShape(shapes.Make(dtypes.Float32, 2, tc.h, tc.w, tc.c))
			logits, err := gmodel.CallOnce(backend, store, func(scope *gmodel.Scope, x *graph.Node) *graph.Node {
				return m.Logits(scope.In("model"), x, training)
			}, images)
			if err != nil {
				t.Fatalf("%s %+v: %v", tc.model, tc.config, err)
			}
			if got, want := logits.Shape().Dimensions, []int{2, m.Config().Classes}; got[0] != want[0] || got[1] != want[1] {
				t.Errorf("%s: logits shape %v, want %v", tc.model, got, want)
			}
			n := 0
			for v := range store.RootScope().In("model").IterVariables() {
				if v.Trainable {
					n += v.Shape().Size()
				}
			}
			if tc.params != 0 && n != tc.params {
				t.Errorf("%s %+v: %d trainable parameters, want %d", tc.model, tc.config, n, tc.params)
			}
		}
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New("vgg", Config{}); err == nil || !strings.Contains(err.Error(), "lenet, mlp, resnet") {
		t.Errorf("unknown model: error %v should list the valid names", err)
	}
	if _, err := New("mlp", Config{Formulation: "fft"}); err == nil {
		t.Error("unknown formulation accepted")
	}
	if _, err := New("mlp", Config{Classes: 1}); err == nil {
		t.Error("1 class accepted")
	}
	for _, name := range Names() {
		if Describe(name) == "" {
			t.Errorf("%s has no description", name)
		}
	}
}
