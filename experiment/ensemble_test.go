package experiment

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute"

	"github.com/extremepoints/esp/corrupt"
	"github.com/extremepoints/esp/models"
)

// TestEnsembleMatchesSeparateRuns trains runs as one ensemble and each alone: every
// member's metrics, epoch by epoch, and its saved weights must be those of its run alone.
// ResNet checks that batch-norm statistics stay per member; the corrupted case that each
// member trains on its own labels.
func TestEnsembleMatchesSeparateRuns(t *testing.T) {
	d := synthDataset(200, 60, 8, 8, 1, 3, 11)
	tests := []struct {
		name     string
		settings Settings
		corrupt  bool
		stacked  bool // the MLP's stacked form (models.EnsembleLogits), the accelerators' default
	}{
		{"mlp adam corrupted", Settings{Model: "mlp", ModelConfig: models.Config{Hidden: 32}, Epochs: 2, BatchSize: 48}, true, false},
		{"mlp adam corrupted stacked", Settings{Model: "mlp", ModelConfig: models.Config{Hidden: 32}, Epochs: 2, BatchSize: 48}, true, true},
		{"mlp sgd weight decay cosine", sgdMLP, false, false},
		{"mlp sgd weight decay cosine stacked", sgdMLP, false, true},
		{"lenet", leNetRun, false, false},
		{"resnet", Settings{Model: "resnet", ModelConfig: models.Config{Blocks: 1}, Epochs: 1, BatchSize: 64}, false, false},
	}
	seeds := []uint64{3, 17, 40}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func(f func(compute.Backend) bool) { stackedEnsemble = f }(stackedEnsemble)
			stackedEnsemble = func(compute.Backend) bool { return tc.stacked }
			sets := make([]*corrupt.Set, len(seeds))
			settings := make([]Settings, len(seeds))
			dirs := make([]string, len(seeds))
			for i, seed := range seeds {
				settings[i], sets[i], dirs[i] = tc.settings, corrupt.Clean(d), t.TempDir()
				settings[i].Seed = seed
				if tc.corrupt {
					settings[i].Corruption = corrupt.Settings{Seed: seed}
					var err error
					if sets[i], err = corrupt.Build(d, settings[i].Corruption); err != nil {
						t.Fatal(err)
					}
				}
			}
			var log strings.Builder
			ens, err := TrainEnsemble(context.Background(), nil, sets, settings, dirs, &log)
			if err != nil {
				t.Fatal(err)
			}
			t.Log("\n" + log.String())
			for i := range seeds {
				alone, err := Train(context.Background(), nil, sets[i], settings[i], "", nil)
				if err != nil {
					t.Fatal(err)
				}
				got := ens[i]
				if got.Status != StatusOK || got.Epochs != tc.settings.Epochs || got.Steps != alone.Steps || len(got.Metrics) != len(alone.Metrics) {
					t.Fatalf("member %d: status %s, %d epochs, %d steps, %d metrics lines; alone: %d steps, %d lines",
						i, got.Status, got.Epochs, got.Steps, len(got.Metrics), alone.Steps, len(alone.Metrics))
				}
				for e, m := range got.Metrics {
					a := alone.Metrics[e]
					for _, c := range []struct {
						name      string
						got, want Float
					}{
						{"train_loss", m.TrainLoss, a.TrainLoss}, {"train_acc", m.TrainAcc, a.TrainAcc},
						{"test_loss", m.TestLoss, a.TestLoss}, {"test_acc", m.TestAcc, a.TestAcc},
						{"weight_norm_sum", m.WeightNormSum, a.WeightNormSum}, {"dist_from_init", m.DistFromInit, a.DistFromInit},
					} {
						if math.Abs(float64(c.got-c.want)) > 1e-4*max(1, math.Abs(float64(c.want))) {
							t.Errorf("member %d epoch %d: %s %v, alone %v", i, e, c.name, c.got, c.want)
						}
					}
					if (m.CorruptedAcc != nil) != tc.corrupt {
						t.Errorf("member %d epoch %d: corrupted_acc present = %v", i, e, m.CorruptedAcc != nil)
					}
				}
				final, err := LoadWeights(filepath.Join(dirs[i], FinalWeightsFile))
				if err != nil {
					t.Fatal(err)
				}
				if dist, _, err := Distance(final, alone.Final); err != nil || dist > 1e-3*alone.Final.Norm() {
					t.Errorf("member %d: saved final weights are %v from the run alone's (norm %v), err %v", i, dist, alone.Final.Norm(), err)
				}
				var cfg RunConfig
				data, _ := os.ReadFile(filepath.Join(dirs[i], ConfigFile))
				if err := json.Unmarshal(data, &cfg); err != nil || cfg.Ensemble != len(seeds) || cfg.Settings.Seed != seeds[i] {
					t.Errorf("member %d config.json (err %v): %s", i, err, data)
				}
				if lines := readMetrics(t, filepath.Join(dirs[i], MetricsFile)); len(lines) != tc.settings.Epochs+1 {
					t.Errorf("member %d: %d metrics lines", i, len(lines))
				}
			}
			if ens[0].Last().TrainLoss == ens[1].Last().TrainLoss {
				t.Error("members 0 and 1 ended with the same training loss: not independent runs")
			}
		})
	}
}

// TestEnsembleDivergence: members whose loss becomes non-finite are stopped with status
// "diverged" and their files, not an error.
func TestEnsembleDivergence(t *testing.T) {
	d := synthDataset(64, 32, 6, 6, 1, 3, 3)
	s := Settings{ModelConfig: models.Config{Hidden: 16}, Epochs: 5, BatchSize: 8, Optimizer: Optimizer{Name: SGD, LearningRate: 1e30}}
	sets := []*corrupt.Set{corrupt.Clean(d), corrupt.Clean(d)}
	settings := []Settings{s, s}
	settings[1].Seed = 9
	dirs := []string{t.TempDir(), t.TempDir()}
	res, err := TrainEnsemble(context.Background(), nil, sets, settings, dirs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Status != StatusDiverged || r.Last().Status != StatusDiverged || r.Epochs != 0 {
			t.Errorf("member %d: status %q after %d epochs, last metrics status %q; want diverged in epoch 1", i, r.Status, r.Epochs, r.Last().Status)
		}
		for _, f := range []string{ConfigFile, MetricsFile, InitWeightsFile, FinalWeightsFile} {
			if _, err := os.Stat(filepath.Join(dirs[i], f)); err != nil {
				t.Error(err)
			}
		}
	}
}

func TestEnsembleErrors(t *testing.T) {
	d := synthDataset(20, 10, 4, 4, 1, 3, 4)
	other := synthDataset(20, 10, 4, 4, 1, 3, 5)
	corrupted, err := corrupt.Build(d, corrupt.Settings{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	s := Settings{Epochs: 1, ModelConfig: models.Config{Hidden: 8}}
	longer := s
	longer.Epochs = 2
	tests := []struct {
		name     string
		sets     []*corrupt.Set
		settings []Settings
		dirs     []string
		want     string
	}{
		{"no members", nil, nil, nil, "ensemble of 0"},
		{"settings count", []*corrupt.Set{corrupt.Clean(d)}, []Settings{s, s}, nil, "ensemble of 1 sets, 2 settings"},
		{"dirs count", []*corrupt.Set{corrupt.Clean(d)}, []Settings{s}, []string{"a", "b"}, "2 run directories"},
		{"other recipe", []*corrupt.Set{corrupt.Clean(d), corrupt.Clean(d)}, []Settings{s, longer}, nil, "epochs"},
		{"other size", []*corrupt.Set{corrupt.Clean(d), corrupted}, []Settings{s, s}, nil, "same dataset and training-set size"},
		{"other dataset", []*corrupt.Set{corrupt.Clean(d), corrupt.Clean(other)}, []Settings{s, s}, nil, "same dataset"},
		{"bad settings", []*corrupt.Set{corrupt.Clean(d)}, []Settings{{Model: "vgg"}}, nil, "member 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := TrainEnsemble(context.Background(), nil, tc.sets, tc.settings, tc.dirs, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestEnsembleGoBackendOps: an ensemble refuses a Go backend that runs ops in parallel
// (it can deadlock, see goRunsOpsInParallel) and trains on one with ops_sequential.
func TestEnsembleGoBackendOps(t *testing.T) {
	d := synthDataset(20, 10, 4, 4, 1, 3, 4)
	sets := []*corrupt.Set{corrupt.Clean(d), corrupt.Clean(d)}
	settings := []Settings{{Epochs: 1, ModelConfig: models.Config{Hidden: 8}}, {Epochs: 1, ModelConfig: models.Config{Hidden: 8}, Seed: 1}}
	tests := []struct {
		backend string
		wantErr bool
	}{{"go", true}, {"go:parallelism=1", true}, {"go:ops_sequential", false}, {sequentialOps("go:parallelism=1"), false}}
	for _, tc := range tests {
		backend, err := NewBackend(tc.backend)
		if err != nil {
			t.Fatal(err)
		}
		_, err = TrainEnsemble(context.Background(), backend, sets, settings, nil, nil)
		if tc.wantErr != (err != nil) || (err != nil && !strings.Contains(err.Error(), "ops_sequential")) {
			t.Errorf("backend %q: error %v, want error: %v", tc.backend, err, tc.wantErr)
		}
		backend.Finalize()
	}
}

func TestSequentialOps(t *testing.T) {
	for in, want := range map[string]string{
		"": "go:ops_sequential", "go": "go:ops_sequential", "go:parallelism=1": "go:parallelism=1,ops_sequential",
		"go:ops_sequential": "go:ops_sequential", "xla:cuda": "xla:cuda",
	} {
		if got := sequentialOps(in); got != want {
			t.Errorf("sequentialOps(%q) = %q, want %q", in, got, want)
		}
	}
}
