package experiment

import (
	"context"
	"errors"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/models"
)

// TestInputTooSmall: images smaller than the model takes are refused, with
// models.ErrInputTooSmall, when its Net is built (the backend failed deep inside on
// them, or crashed the process) and before a study makes its folder.
func TestInputTooSmall(t *testing.T) {
	backend := mustBackend(t)
	tests := []struct {
		model  string
		config models.Config
		side   int
	}{
		{"lenet", models.Config{}, 1},
		{"lenet", models.Config{}, 2},
		{"lenet", models.Config{Convs: 2}, 3},
		{"lenet", models.Config{Convs: 1}, 1},
	}
	for _, tc := range tests {
		if _, err := NewNet(backend, tc.model, tc.config, tc.side, tc.side, 1, 1); !errors.Is(err, models.ErrInputTooSmall) {
			t.Errorf("NewNet %s %+v on %dx%d images: error %v, want models.ErrInputTooSmall", tc.model, tc.config, tc.side, tc.side, err)
		}
		s := tinyStudy(1)
		s.Run.Model, s.Run.ModelConfig = tc.model, tc.config
		dir := filepath.Join(t.TempDir(), "study")
		d := synthDataset(8, 4, tc.side, tc.side, 1, 3, 1)
		if _, err := RunStudy(context.Background(), d, s, dir, nil); !errors.Is(err, models.ErrInputTooSmall) {
			t.Errorf("RunStudy %s %+v on %dx%d images: error %v, want models.ErrInputTooSmall", tc.model, tc.config, tc.side, tc.side, err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("RunStudy %s %+v on %dx%d images made its folder (%v)", tc.model, tc.config, tc.side, tc.side, err)
		}
	}
}

// TestHessianVectorProductModels: the exact product is symmetric, uᵀHv = vᵀHu, for
// every model (the matmul formulation's convolutions gave up to 30% apart), and linear
// in the direction. The products themselves are checked against PyTorch's in package
// torchstate, and against the Hessian computed apart in package analysis.
func TestHessianVectorProductModels(t *testing.T) {
	backend, err := NewBackend("go")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Finalize()
	split := &datasets.Split{Height: 8, Width: 8, Channels: 1, Images: make([]uint8, 4*64), Labels: []uint8{0, 1, 2, 3}}
	for i := range split.Images {
		split.Images[i] = uint8(i * 37)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		model  string
		config models.Config
	}{
		{"mlp", models.Config{}},
		{"lenet", models.Config{}},
		{"lenet", models.Config{Convs: 1, FCReLU: true}},
		{"resnet", models.Config{Blocks: 1}},
		{"resnet", models.Config{Blocks: 1, Shortcut3x3: true}},
	} {
		net, err := NewNet(backend, tc.model, tc.config, 8, 8, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		u, v := randomWeights(t, net, rng), randomWeights(t, net, rng)
		hu, err := net.HessianVectorProduct(split, 3, nil, u) // two batches: the mean over them
		if err != nil {
			t.Fatalf("%s %+v: %v", tc.model, tc.config, err)
		}
		hv, err := net.HessianVectorProduct(split, 0, nil, v)
		if err != nil {
			t.Fatal(err)
		}
		uHv, vHu := mustDot(t, u, hv), mustDot(t, v, hu)
		if math.Abs(uHv-vHu) > 1e-4*math.Abs(uHv) || uHv == 0 {
			t.Errorf("%s %+v: uᵀHv %g, vᵀHu %g", tc.model, tc.config, uHv, vHu)
		}
		if err := v.Axpy(-2, u); err != nil { // H(v - 2u) = Hv - 2Hu
			t.Fatal(err)
		}
		hw, err := net.HessianVectorProduct(split, 0, nil, v)
		if err != nil {
			t.Fatal(err)
		}
		if err := hw.Axpy(-1, hv); err != nil {
			t.Fatal(err)
		}
		if err := hw.Axpy(2, hu); err != nil {
			t.Fatal(err)
		}
		if d, want := hw.Norm(), hv.Norm(); d > 1e-4*want {
			t.Errorf("%s %+v: |H(v-2u) - (Hv-2Hu)| %g for |Hv| %g", tc.model, tc.config, d, want)
		}
	}
}

// randomWeights returns normal random tensors shaped as the net's weights.
func randomWeights(t *testing.T, net *Net, rng *rand.Rand) *Weights {
	t.Helper()
	w, err := net.Weights()
	if err != nil {
		t.Fatal(err)
	}
	for _, tensor := range w.Tensors {
		for i := range tensor.Data {
			tensor.Data[i] = float32(rng.NormFloat64())
		}
	}
	return w
}

func mustDot(t *testing.T, a, b *Weights) float64 {
	t.Helper()
	d, err := a.Dot(b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
