package models

import (
	"errors"
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
		// The authors' smaller CNN: two convolutions, fc 7*7*32*64+64 (CIFAR: 8*8*32*64+64), 64*10+10.
		{"lenet", 28, 28, 1, Config{Convs: 2, FCHidden: 64}, 416 + 12832 + 100416 + 650},
		{"lenet", 32, 32, 3, Config{Convs: 2, FCHidden: 64}, 1216 + 12832 + 131136 + 650},
		{"resnet", 28, 28, 1, Config{}, 0},
		{"resnet", 32, 32, 3, Config{Blocks: 1, Formulation: Native}, 0},
		// stem 3*3*1*16 + BN 2*16; stage 0: 2 * (3*3*16*16 + 2*16); stage 1: 3*3*16*32 +
		// 3*3*32*32 + 3 BNs of 2*32 + a 1x1 shortcut 16*32; stage 2 likewise; fc 64*10+10.
		{"resnet", 28, 28, 1, Config{Blocks: 1}, 176 + 4672 + (4608 + 9216 + 192 + 512) + (18432 + 36864 + 384 + 2048) + 650},
		// The authors' 3x3 shortcuts: 3*3*16*32 and 3*3*32*64.
		{"resnet", 28, 28, 1, Config{Blocks: 1, Shortcut3x3: true}, 176 + 4672 + (4608 + 9216 + 192 + 4608) + (18432 + 36864 + 384 + 18432) + 650},
		{"resnet", 14, 14, 1, Config{Blocks: 1, Shortcut3x3: true, Formulation: Native}, 98234},
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
	for _, convs := range []int{-1, 4} {
		if _, err := New("lenet", Config{Convs: convs}); err == nil || !strings.Contains(err.Error(), "want 1 to 3") {
			t.Errorf("LeNet with %d convolutions: error %v", convs, err)
		}
	}
	for _, tc := range []struct {
		config Config
		want   string
	}{
		{Config{Hidden: MaxWidth + 1}, "hidden width 65537, want at most 65536"},
		{Config{FCHidden: 1e9}, "want at most 65536"},
		{Config{Blocks: 100000}, "100000 ResNet blocks per stage, want at most 64"},
	} {
		if _, err := New("mlp", tc.config); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one saying %q", tc.config, err, tc.want)
		}
	}
	if _, err := New("mlp", Config{Hidden: MaxWidth}); err != nil {
		t.Errorf("the widest MLP: %v", err)
	}
	for _, name := range Names() {
		if Describe(name) == "" {
			t.Errorf("%s has no description", name)
		}
	}
}

// TestEnsembleLogits checks the MLP's stacked form against Logits per member, on the same
// variables: member i's logits must be those of the single model in scopes[i]. Models
// without a stacked form say so.
func TestEnsembleLogits(t *testing.T) {
	backend := testBackend(t)
	m, err := New("mlp", Config{Hidden: 6, Classes: 4})
	if err != nil {
		t.Fatal(err)
	}
	const k, batch = 3, 5
	x := tensors.FromShape(shapes.Make(dtypes.Float32, k, batch, 4, 4, 1))
	tensors.MustMutableFlatData(x, func(flat []float32) {
		for i := range flat {
			flat[i] = float32(i%17) / 17
		}
	})
	// Two graphs on one store: the members' variables, created by the first, are the
	// ones the second stacks.
	store := gmodel.NewStore()
	memberScopes := func(scope *gmodel.Scope) []*gmodel.Scope {
		scopes := make([]*gmodel.Scope, k)
		for i := range k {
			scopes[i] = scope.In("member%d", i)
		}
		return scopes
	}
	alone, err := gmodel.CallOnce(backend, store, func(scope *gmodel.Scope, images *graph.Node) *graph.Node {
		single := make([]*graph.Node, k)
		for i, s := range memberScopes(scope) {
			single[i] = m.Logits(s, graph.Squeeze(graph.Slice(images, graph.AxisElem(i)), 0), true)
		}
		return graph.Stack(single, 0)
	}, x)
	if err != nil {
		t.Fatal(err)
	}
	together, err := gmodel.CallOnce(backend, store, func(scope *gmodel.Scope, images *graph.Node) *graph.Node {
		stacked, ok := m.EnsembleLogits(memberScopes(scope), images, true)
		if !ok {
			t.Error("the MLP has no stacked form")
			return graph.Stack([]*graph.Node{images}, 0)
		}
		return stacked
	}, x)
	if err != nil {
		t.Fatal(err)
	}
	stacked, ok1 := together.Value().([][][]float32)
	single, ok2 := alone.Value().([][][]float32)
	if !ok1 || !ok2 || len(stacked) != k || len(stacked[0]) != batch || len(stacked[0][0]) != 4 {
		t.Fatalf("stacked logits shaped %s, want [%d %d 4]", together.Shape(), k, batch)
	}
	for i := range stacked {
		for j := range stacked[i] {
			for c := range stacked[i][j] {
				if d := stacked[i][j][c] - single[i][j][c]; d > 1e-5 || d < -1e-5 {
					t.Fatalf("member %d example %d class %d: stacked %v, alone %v", i, j, c, stacked[i][j][c], single[i][j][c])
				}
			}
		}
	}
	for _, name := range []string{"lenet", "resnet"} {
		other, _ := New(name, Config{})
		if _, ok := other.EnsembleLogits(nil, nil, true); ok {
			t.Errorf("%s claims a stacked form", name)
		}
	}
}

// TestCheckInput: each model takes images down to the size its pools allow, and refuses
// smaller ones naming the model, its minimum and the size given, in CheckInput and as
// the error of a graph that Logits builds. TestModelFormulations builds and
// differentiates every model at its minimum.
func TestCheckInput(t *testing.T) {
	backend := testBackend(t)
	tests := []struct {
		model   string
		config  Config
		h, w, c int
		wantErr string // "": taken
	}{
		{"mlp", Config{}, 1, 1, 1, ""},
		{"resnet", Config{}, 1, 1, 3, ""},
		{"resnet", Config{Shortcut3x3: true}, 1, 5, 1, ""},
		{"lenet", Config{}, 4, 4, 1, ""},
		{"lenet", Config{}, 32, 32, 3, ""}, // a third pool: CIFAR-10's
		{"lenet", Config{}, 3, 3, 1, "lenet halves the images twice (2x2 max-pools), so it needs at least 4x4 pixels; these are 3x3"},
		{"lenet", Config{}, 2, 2, 3, "so it needs at least 4x4 pixels; these are 2x2 (mlp and resnet take any size)"},
		{"lenet", Config{Convs: 2}, 28, 3, 1, "at least 4x4 pixels; these are 3x28"},
		{"lenet", Config{Convs: 1}, 2, 2, 1, ""},
		{"lenet", Config{Convs: 1}, 1, 1, 1, "lenet halves the images once (2x2 max-pools), so it needs at least 2x2 pixels; these are 1x1"},
		{"mlp", Config{}, 0, 1, 1, "invalid image shape 0x1x1"},
	}
	for _, tc := range tests {
		m, err := New(tc.model, tc.config)
		if err != nil {
			t.Fatal(err)
		}
		err = m.CheckInput(tc.h, tc.w, tc.c)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s %+v, %dx%dx%d: %v", tc.model, tc.config, tc.h, tc.w, tc.c, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s %+v, %dx%dx%d: error %v, want one containing %q", tc.model, tc.config, tc.h, tc.w, tc.c, err, tc.wantErr)
		case strings.Contains(tc.wantErr, "needs at least") && !errors.Is(err, ErrInputTooSmall):
			t.Errorf("%s %+v, %dx%dx%d: error %v does not wrap ErrInputTooSmall", tc.model, tc.config, tc.h, tc.w, tc.c, err)
		}
		if tc.wantErr == "" || tc.h <= 0 {
			continue
		}
		images := tensors.FromShape(shapes.Make(dtypes.Float32, 2, tc.h, tc.w, tc.c))
		_, err = gmodel.CallOnce(backend, gmodel.NewStore(), func(scope *gmodel.Scope, x *graph.Node) *graph.Node {
			return m.Logits(scope.In("model"), x, true)
		}, images)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s %+v, Logits of %dx%dx%d: error %v, want one containing %q", tc.model, tc.config, tc.h, tc.w, tc.c, err, tc.wantErr)
		}
	}
}
