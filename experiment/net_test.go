package experiment

import (
	"context"
	"errors"
	"io/fs"
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

// TestHessianVectorProductModels: exact products for the MLP (checked against the Hessian
// computed apart in package analysis), refused for the convolutional models.
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
	for _, tc := range []struct {
		model string
		exact bool
	}{{"mlp", true}, {"lenet", false}, {"resnet", false}} {
		net, err := NewNet(backend, tc.model, models.Config{Classes: 10}, 8, 8, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		w, err := net.Weights()
		if err != nil {
			t.Fatal(err)
		}
		hv, err := net.HessianVectorProduct(split, 0, nil, w)
		if net.ExactHVP() != tc.exact || (err == nil) != tc.exact || (!tc.exact && !errors.Is(err, ErrNoExactHVP)) {
			t.Errorf("%s: ExactHVP %v, error %v", tc.model, net.ExactHVP(), err)
		}
		if tc.exact && (len(hv.Tensors) != len(w.Tensors) || hv.Norm() == 0) {
			t.Errorf("%s: H·w %v", tc.model, hv.Norm())
		}
	}
}
