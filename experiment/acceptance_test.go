package experiment

import (
	"context"
	"os"
	"testing"

	"github.com/extremepoints/esp/corrupt"
	"github.com/extremepoints/esp/datasets"
)

// TestAcceptanceMNIST runs the acceptance targets on real MNIST (minutes, not part of
// the normal test run): set ESP_ACCEPTANCE=1. Data is loaded with datasets.Load
// (cache, then offline fallbacks; no download: URLs is empty).
//
//   - MLP, 3 epochs, normal: test accuracy >= 0.97.
//   - MLP, 15 epochs, wrong-uniform corruption with the paper's 7 copies:
//     train accuracy >= 0.98 and test accuracy <= 0.05.
//   - Milliseconds per training step (batch 128) of the MLP and LeNet, logged.
func TestAcceptanceMNIST(t *testing.T) {
	if os.Getenv("ESP_ACCEPTANCE") == "" {
		t.Skip("set ESP_ACCEPTANCE=1 to run (several minutes)")
	}
	ctx := context.Background()
	d, err := datasets.Load(ctx, "mnist", datasets.Options{DataDir: os.Getenv("ESP_DATA_DIR"), URLs: []string{}, Progress: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	only := os.Getenv("ESP_ACCEPTANCE")
	if only == "1" || only == "speed" {
		for _, model := range []string{"mlp", "lenet"} {
			small := d.Head(128 * 20)
			res, err := Train(ctx, nil, corrupt.Clean(small), Settings{Model: model, Epochs: 2}, "", os.Stderr)
			if err != nil {
				t.Fatal(err)
			}
			m := res.Last()
			t.Logf("%s: %.1f ms per training step (batch 128, Adam, second epoch of %d steps)",
				model, 1000*m.EpochSeconds/20, 20)
		}
	}
	if only == "1" || only == "normal" {
		res, err := Train(ctx, nil, corrupt.Clean(d), Settings{Model: "mlp", Epochs: 3, Seed: 1}, t.TempDir(), os.Stderr)
		if err != nil {
			t.Fatal(err)
		}
		if m := res.Last(); m.TestAcc < 0.97 {
			t.Errorf("normal MLP: test accuracy %.4f < 0.97", m.TestAcc)
		}
	}
	if only == "1" || only == "corrupted" {
		cs := corrupt.Settings{Strategy: corrupt.WrongUniform, Seed: 1}
		set, err := corrupt.Build(d, cs)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("corrupted set: %d examples", set.Len())
		res, err := Train(ctx, nil, set, Settings{Model: "mlp", Epochs: 15, Seed: 1, Corruption: cs}, t.TempDir(), os.Stderr)
		if err != nil {
			t.Fatal(err)
		}
		if m := res.Last(); m.TrainAcc < 0.98 || m.TestAcc > 0.05 {
			t.Errorf("corrupted MLP: train accuracy %.4f (want >= 0.98), test accuracy %.4f (want <= 0.05)", m.TrainAcc, m.TestAcc)
		}
	}
}
