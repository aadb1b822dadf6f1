package experiment

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gomlx/compute"

	"github.com/extremepoints/esp/corrupt"
	"github.com/extremepoints/esp/models"
)

// TestTrainerReuse trains runs one after the other on one trainer, as a study worker
// does, and checks that each is the run Train gives alone: the same initial and final
// weights and the same metrics, bit for bit (times aside), whatever ran before it on the
// trainer (another seed, the same seed again).
func TestTrainerReuse(t *testing.T) {
	d := synthDataset(150, 40, 8, 8, 1, 3, 21)
	tests := []struct {
		name     string
		settings Settings
		corrupt  bool
	}{
		{"mlp adam corrupted", adamMLP, true},
		{"mlp adam corrupted 3 steps per call", withStepsPerCall(adamMLP, 3), true},
		{"mlp sgd momentum weight decay cosine", sgdMLP, false},
		{"lenet", leNetRun, false},
		{"resnet batch norm", Settings{Model: "resnet", ModelConfig: models.Config{Blocks: 1}, Epochs: 1, BatchSize: 64}, true},
	}
	seeds := []uint64{3, 3, 17} // the same seed twice in a row too
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			backend, err := NewBackend("go")
			if err != nil {
				t.Fatal(err)
			}
			var tr *trainer
			for i, seed := range seeds {
				s, set := tc.settings, corrupt.Clean(d)
				s.Seed = seed
				if tc.corrupt {
					s.Corruption = corrupt.Settings{Seed: seed}
					if set, err = corrupt.Build(d, s.Corruption); err != nil {
						t.Fatal(err)
					}
				}
				alone, err := Train(context.Background(), backend, set, s, "", nil)
				if err != nil {
					t.Fatal(err)
				}
				prepared, err := prepareRun(set, s)
				if err != nil {
					t.Fatal(err)
				}
				if tr == nil {
					if tr, err = newTrainer(backend, prepared, d.Train); err != nil {
						t.Fatal(err)
					}
				}
				reused, err := tr.train(context.Background(), set, prepared, "", nil)
				if err != nil {
					t.Fatal(err)
				}
				if reused.Net != tr.net {
					t.Fatalf("run %d trained a new net", i)
				}
				if !sameWeights(alone.Init, reused.Init) || !sameWeights(alone.Final, reused.Final) {
					t.Errorf("run %d (seed %d): weights differ from the run trained alone", i, seed)
				}
				if a, b := encodedMetrics(t, alone), encodedMetrics(t, reused); a != b {
					t.Errorf("run %d (seed %d): metrics differ from the run trained alone:\n%s\nvs\n%s", i, seed, a, b)
				}
			}
		})
	}
}

// TestTrainerFits checks which runs a trainer takes: any seed and corruption, nothing that
// changes the graphs or what the optimizer does.
func TestTrainerFits(t *testing.T) {
	d := synthDataset(64, 16, 8, 8, 1, 3, 22)
	base := Settings{Model: "mlp", ModelConfig: models.Config{Hidden: 8}, Epochs: 1, BatchSize: 16, Seed: 1}
	prepare := func(s Settings) Settings {
		p, err := prepareRun(corrupt.Clean(d), s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	backend, err := NewBackend("go")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := newTrainer(backend, prepare(base), d.Train)
	if err != nil {
		t.Fatal(err)
	}
	other := synthDataset(64, 16, 6, 6, 1, 3, 22)
	tests := []struct {
		name   string
		change func(*Settings)
		split  bool // on other's images (6x6)
		fits   bool
	}{
		{"same", func(*Settings) {}, false, true},
		{"seed", func(s *Settings) { s.Seed = 9 }, false, true},
		{"corruption", func(s *Settings) { s.Corruption = corrupt.Settings{Seed: 4} }, false, true},
		{"batch size", func(s *Settings) { s.BatchSize = 32 }, false, false},
		{"learning rate", func(s *Settings) { s.Optimizer.LearningRate = 0.1 }, false, false},
		{"weight decay", func(s *Settings) { s.WeightDecay = 0.01 }, false, false},
		{"hidden units", func(s *Settings) { s.ModelConfig.Hidden = 16 }, false, false},
		{"image shape", func(*Settings) {}, true, false},
	}
	for _, tc := range tests {
		s := base
		tc.change(&s)
		split := d.Train
		if tc.split {
			split = other.Train
		}
		if got := tr.fits(prepare(s), split); got != tc.fits {
			t.Errorf("%s: fits %v, want %v", tc.name, got, tc.fits)
		}
	}
}

// withEpochs returns s training for epochs.
func withEpochs(s Settings, epochs int) Settings {
	s.Epochs = epochs
	return s
}

func withStepsPerCall(s Settings, k int) Settings {
	s.StepsPerCall = k
	return s
}

func sameWeights(a, b *Weights) bool {
	if len(a.Tensors) != len(b.Tensors) {
		return false
	}
	for i := range a.Tensors {
		if a.Tensors[i].Name != b.Tensors[i].Name || !slices.EqualFunc(a.Tensors[i].Data, b.Tensors[i].Data, sameBits) {
			return false
		}
	}
	return true
}

// sameBits compares float32s bit for bit: NaNs (a diverged run's weights) too.
func sameBits(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }

// encodedMetrics is r's metrics.jsonl without the times.
func encodedMetrics(t *testing.T, r *Result) string {
	t.Helper()
	ms := slices.Clone(r.Metrics)
	for i := range ms {
		ms[i].Seconds, ms[i].EpochSeconds = 0, 0
	}
	data, err := EncodeMetrics(ms)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestRunStudyReusesOneTrainer runs a study on one worker, whose trainer then serves all
// its runs, normal and corrupted, and retrains every run alone from its config.json: the
// final weights must be the same.
func TestRunStudyReusesOneTrainer(t *testing.T) {
	d := synthDataset(40, 20, 4, 4, 1, 3, 1)
	dir := t.TempDir()
	s := tinyStudy(2)
	s.Workers = 1
	res, err := RunStudy(context.Background(), d, s, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Finished) != 4 {
		t.Fatalf("%d runs finished, want 4", len(res.Finished))
	}
	for _, f := range res.Finished {
		runDir := filepath.Join(dir, RunsDir, f.Name())
		data, err := os.ReadFile(filepath.Join(runDir, ConfigFile))
		if err != nil {
			t.Fatal(err)
		}
		var config RunConfig
		if err := json.Unmarshal(data, &config); err != nil {
			t.Fatal(err)
		}
		set := corrupt.Clean(d)
		if config.Dataset.Corrupted {
			if set, err = corrupt.Build(d, config.Settings.Corruption); err != nil {
				t.Fatal(err)
			}
		}
		alone, err := Train(context.Background(), nil, set, config.Settings, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		final, err := LoadWeights(filepath.Join(runDir, FinalWeightsFile))
		if err != nil {
			t.Fatal(err)
		}
		if !sameWeights(alone.Final, final) {
			t.Errorf("%s: final weights differ from the run trained alone", f.Name())
		}
	}
}

// TestEnsembleReuse trains two groups of runs one after the other on one ensemble, as a
// study worker does, and checks the second against a fresh ensemble of the same runs: the
// same initial and final weights and metrics, bit for bit (times aside).
func TestEnsembleReuse(t *testing.T) {
	d := synthDataset(120, 40, 8, 8, 1, 3, 23)
	tests := []struct {
		name     string
		settings Settings
		stacked  bool
	}{
		{"mlp adam", adamMLP, false},
		{"mlp sgd momentum weight decay cosine stacked", sgdMLP, true},
		{"lenet", leNetRun, false},
	}
	group := func(base Settings, seeds ...uint64) ([]*corrupt.Set, []Settings) {
		sets, settings := make([]*corrupt.Set, len(seeds)), make([]Settings, len(seeds))
		for i, seed := range seeds {
			settings[i] = base
			settings[i].Seed, settings[i].Corruption = seed, corrupt.Settings{Seed: seed}
			var err error
			if sets[i], err = corrupt.Build(d, settings[i].Corruption); err != nil {
				t.Fatal(err)
			}
		}
		return sets, settings
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func(f func(compute.Backend) bool) { stackedEnsemble = f }(stackedEnsemble)
			stackedEnsemble = func(compute.Backend) bool { return tc.stacked }
			backend, err := NewBackend("go:ops_sequential")
			if err != nil {
				t.Fatal(err)
			}
			w := &studyWorker{backend: backend}
			if _, err := w.trainEnsemble(context.Background(), nil, nil, nil); err == nil {
				t.Fatal("an empty ensemble: no error")
			}
			first, again := []uint64{3, 17}, []uint64{3, 40} // member 0 trains seed 3 again
			sets, settings := group(tc.settings, first...)
			if _, err := w.trainEnsemble(context.Background(), sets, settings, nil); err != nil {
				t.Fatal(err)
			}
			e := w.ensemble
			sets, settings = group(tc.settings, again...)
			reused, err := w.trainEnsemble(context.Background(), sets, settings, nil)
			if err != nil {
				t.Fatal(err)
			}
			if w.ensemble != e {
				t.Fatal("the second group built a new ensemble")
			}
			fresh, err := TrainEnsemble(context.Background(), backend, sets, settings, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := range again {
				if !sameWeights(fresh[i].Init, reused[i].Init) || !sameWeights(fresh[i].Final, reused[i].Final) {
					t.Errorf("member %d (seed %d): weights differ from a fresh ensemble's", i, again[i])
				}
				if a, b := encodedMetrics(t, fresh[i]), encodedMetrics(t, reused[i]); a != b {
					t.Errorf("member %d (seed %d): metrics differ from a fresh ensemble's:\n%s\nvs\n%s", i, again[i], a, b)
				}
			}
		})
	}
}
