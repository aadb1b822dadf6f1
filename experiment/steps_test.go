package experiment

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/extremepoints/esp/corrupt"
	"github.com/extremepoints/esp/models"
)

// TestStepsPerCall trains runs with several steps per call of the training graph and
// checks them against one step per call: the same weights and metrics, bit for bit (times
// aside), with calls that fill an epoch exactly and calls that leave steps over (taken
// one by one, the last with the epoch's smaller batch).
func TestStepsPerCall(t *testing.T) {
	d := synthDataset(150, 40, 8, 8, 1, 3, 41) // corrupted: 310 examples, 9 batches of 32 and one of 22
	sgd := sgdMLP
	sgd.Optimizer.Schedule = ScheduleConstant
	tests := []struct {
		name     string
		settings Settings
		perCall  []int
	}{
		{"mlp adam", adamMLP, []int{2, 3, 4, 8}},
		{"mlp sgd momentum weight decay", sgd, []int{3}},
		{"lenet", leNetRun, []int{4}},
		{"resnet batch norm", Settings{Model: "resnet", ModelConfig: models.Config{Blocks: 1}, Epochs: 1, BatchSize: 32}, []int{2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set, err := corrupt.Build(d, corrupt.Settings{Seed: 2})
			if err != nil {
				t.Fatal(err)
			}
			s := tc.settings
			s.Seed = 7
			one, err := Train(context.Background(), nil, set, s, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range tc.perCall {
				s.StepsPerCall = k
				many, err := Train(context.Background(), nil, set, s, "", nil)
				if err != nil {
					t.Fatal(err)
				}
				if many.Steps != one.Steps || !sameWeights(one.Final, many.Final) {
					t.Errorf("%d steps per call: %d steps, weights equal %v; one per call: %d steps", k, many.Steps, sameWeights(one.Final, many.Final), one.Steps)
				}
				if a, b := encodedMetrics(t, one), encodedMetrics(t, many); a != b {
					t.Errorf("%d steps per call: metrics differ from one step per call:\n%s\nvs\n%s", k, b, a)
				}
			}
		})
	}
}

// TestStepsPerCallDiverges: a run whose loss stops being finite inside a call is stopped
// and marked diverged, as with one step per call.
func TestStepsPerCallDiverges(t *testing.T) {
	d := synthDataset(64, 32, 6, 6, 1, 3, 3)
	s := Settings{ModelConfig: models.Config{Hidden: 16}, Epochs: 5, BatchSize: 8, StepsPerCall: 4,
		Optimizer: Optimizer{Name: SGD, LearningRate: 1e30}}
	res, err := Train(context.Background(), nil, corrupt.Clean(d), s, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusDiverged || res.Last().Status != StatusDiverged || res.Epochs != 0 {
		t.Fatalf("status %q after %d epochs, %d steps; want diverged in the first epoch", res.Status, res.Epochs, res.Steps)
	}
}

func TestStepsPerCallErrors(t *testing.T) {
	d := synthDataset(20, 10, 4, 4, 1, 3, 4)
	tests := []struct {
		name    string
		run     func() error
		wantErr string
	}{
		{"negative", func() error {
			_, err := Train(context.Background(), nil, corrupt.Clean(d), Settings{StepsPerCall: -1}, "", nil)
			return err
		}, "negative steps per call"},
		{"cosine schedule", func() error {
			_, err := Train(context.Background(), nil, corrupt.Clean(d), Settings{StepsPerCall: 4, Optimizer: Optimizer{Schedule: ScheduleCosine}}, "", nil)
			return err
		}, "need the constant learning-rate schedule"},
		{"ensemble", func() error {
			_, err := TrainEnsemble(context.Background(), nil, []*corrupt.Set{corrupt.Clean(d), corrupt.Clean(d)},
				[]Settings{{StepsPerCall: 2, Seed: 1}, {StepsPerCall: 2, Seed: 2}}, nil, nil)
			return err
		}, "an ensemble takes one step per call"},
		{"study with ensembles", func() error {
			s := tinyStudy(2)
			s.Ensemble, s.Run.StepsPerCall = 2, 4
			_, err := RunStudy(context.Background(), d, s, t.TempDir(), nil)
			return err
		}, "choose one of the two"},
	}
	for _, tc := range tests {
		if err := tc.run(); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: error %v, want one with %q", tc.name, err, tc.wantErr)
		}
	}
}

// TestStudyStepsPerCall resumes a study with another number of steps per call: the same
// study (it is not part of its identity), and the runs trained either way are the same.
func TestStudyStepsPerCall(t *testing.T) {
	d := synthDataset(40, 20, 4, 4, 1, 3, 1)
	dir := t.TempDir()
	s := tinyStudy(2)
	s.Workers = 1
	if _, err := RunStudy(context.Background(), d, s, dir, nil); err != nil {
		t.Fatal(err)
	}
	want, err := LoadWeights(dir + "/" + RunsDir + "/corrupted-0001/" + FinalWeightsFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir + "/" + RunsDir + "/corrupted-0001"); err != nil {
		t.Fatal(err)
	}
	s.Run.StepsPerCall = 2
	res, err := RunStudy(context.Background(), d, s, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := LoadWeights(dir + "/" + RunsDir + "/corrupted-0001/" + FinalWeightsFile)
	if err != nil {
		t.Fatal(err)
	}
	if res.Trained != 1 || !sameWeights(want, got) {
		t.Errorf("resumed with 2 steps per call: trained %d runs (want 1), same weights %v", res.Trained, sameWeights(want, got))
	}
}

// TestFitStepsPerCall: Net.Fit (the probes' restarts) takes the same steps with several
// per call.
func TestFitStepsPerCall(t *testing.T) {
	d := synthDataset(100, 16, 4, 4, 1, 3, 12) // batches of 16: 6 full ones and one of 4
	var final []*Weights
	for _, k := range []int{1, 4} {
		net, err := NewNet(mustBackend(t), "mlp", models.Config{Classes: 3, Hidden: 8}, 4, 4, 1, 2)
		if err != nil {
			t.Fatal(err)
		}
		s := Settings{Epochs: 2, BatchSize: 16, StepsPerCall: k, Optimizer: Optimizer{LearningRate: 0.03}}
		if err := net.Fit(context.Background(), corrupt.Clean(d), s, nil); err != nil {
			t.Fatal(err)
		}
		w, err := net.Weights()
		if err != nil {
			t.Fatal(err)
		}
		final = append(final, w)
	}
	if !sameWeights(final[0], final[1]) {
		t.Error("Fit with 4 steps per call ends elsewhere than with one")
	}
}
