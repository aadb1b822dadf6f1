package experiment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/extremepoints/esp/corrupt"
	"github.com/extremepoints/esp/models"
)

// cancelAfter is a progress writer that cancels its context once a line starts with
// prefix ("epoch 2/"), as an interrupt would.
type cancelAfter struct {
	prefix string
	cancel context.CancelFunc
	log    bytes.Buffer
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, []byte(c.prefix)) {
		c.cancel()
	}
	return c.log.Write(p)
}

// TestTrainResumes interrupts runs after an epoch and trains them again into the same
// directory: each resumes from its checkpoint and ends where the run trained in one go
// does, bit for bit (weights, optimizer state, data order, learning-rate schedule), with
// the same metrics; the finished run keeps no checkpoint.
func TestTrainResumes(t *testing.T) {
	d := synthDataset(150, 40, 8, 8, 1, 3, 21)
	longer := func(s Settings, epochs int) Settings { s.Epochs = epochs; return s }
	tests := []struct {
		name     string
		settings Settings
		corrupt  bool
		stopped  int // the epoch after which it is interrupted
	}{
		{"mlp adam corrupted", longer(adamMLP, 4), true, 2},
		{"mlp sgd momentum weight decay cosine", longer(sgdMLP, 3), false, 1},
		{"mlp adam 3 steps per call", longer(withStepsPerCall(adamMLP, 3), 3), false, 2},
		{"resnet batch norm", Settings{Model: "resnet", ModelConfig: models.Config{Blocks: 1}, Epochs: 2, BatchSize: 64}, true, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			backend, err := NewBackend("go")
			if err != nil {
				t.Fatal(err)
			}
			defer backend.Finalize()
			s, set := tc.settings, corrupt.Clean(d)
			s.Seed = 5
			if tc.corrupt {
				s.Corruption = corrupt.Settings{Seed: 5}
				if set, err = corrupt.Build(d, s.Corruption); err != nil {
					t.Fatal(err)
				}
			}
			whole, err := Train(context.Background(), backend, set, s, filepath.Join(t.TempDir(), "whole"), nil)
			if err != nil {
				t.Fatal(err)
			}

			dir := filepath.Join(t.TempDir(), "resumed")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stop := &cancelAfter{prefix: "epoch " + strconv.Itoa(tc.stopped) + "/", cancel: cancel}
			if _, err := Train(ctx, backend, set, s, dir, stop); !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted run: error %v, want %v", err, context.Canceled)
			}
			if !HasCheckpoint(dir) {
				t.Fatalf("no checkpoint after the interrupted run; files: %v", listDir(t, dir))
			}
			if _, err := os.Stat(filepath.Join(dir, FinalWeightsFile)); !os.IsNotExist(err) {
				t.Fatalf("the interrupted run wrote %s", FinalWeightsFile)
			}

			var log bytes.Buffer
			resumed, err := Train(context.Background(), backend, set, s, dir, &log)
			if err != nil {
				t.Fatal(err)
			}
			if want := "resuming " + dir + " after epoch " + strconv.Itoa(tc.stopped); !strings.Contains(log.String(), want) {
				t.Errorf("progress %q does not say %q", log.String(), want)
			}
			if !sameWeights(resumed.Final, whole.Final) {
				t.Error("the resumed run's final weights differ from the run trained in one go")
			}
			if resumed.Steps != whole.Steps || resumed.Epochs != whole.Epochs || len(resumed.Metrics) != len(whole.Metrics) {
				t.Fatalf("resumed: %d epochs, %d steps, %d metrics lines; in one go: %d, %d, %d",
					resumed.Epochs, resumed.Steps, len(resumed.Metrics), whole.Epochs, whole.Steps, len(whole.Metrics))
			}
			for i := range whole.Metrics {
				a, b := resumed.Metrics[i], whole.Metrics[i]
				a.Seconds, a.EpochSeconds, b.Seconds, b.EpochSeconds = 0, 0, 0, 0
				ja, _ := json.Marshal(a)
				jb, _ := json.Marshal(b)
				if string(ja) != string(jb) {
					t.Errorf("metrics line %d: resumed %s, in one go %s", i, ja, jb)
				}
			}
			onDisk, err := LoadWeights(filepath.Join(dir, FinalWeightsFile))
			if err != nil || !sameWeights(onDisk, whole.Final) {
				t.Errorf("%s on disk: %v, or not the run's weights", FinalWeightsFile, err)
			}
			if HasCheckpoint(dir) {
				t.Errorf("the finished run keeps a checkpoint: %v", listDir(t, dir))
			}
			var rc RunConfig
			data, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
			if err := json.Unmarshal(data, &rc); err != nil || len(rc.ResumedAfter) != 1 || rc.ResumedAfter[0] != tc.stopped {
				t.Errorf("config.json resumed_after_epochs %v (%v), want [%d]", rc.ResumedAfter, err, tc.stopped)
			}
		})
	}
}

// TestTrainRefusesAnotherRunsCheckpoint: a checkpointed directory given other settings,
// or whose checkpoint was damaged, is refused, and its files stay as they were.
func TestTrainRefusesAnotherRunsCheckpoint(t *testing.T) {
	d := synthDataset(150, 40, 8, 8, 1, 3, 21)
	backend, err := NewBackend("go")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Finalize()
	s := adamMLP
	s.Epochs, s.Seed = 3, 5
	set := corrupt.Clean(d)
	interrupted := func(t *testing.T) string {
		dir := filepath.Join(t.TempDir(), "run")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if _, err := Train(ctx, backend, set, s, dir, &cancelAfter{prefix: "epoch 1/", cancel: cancel}); !errors.Is(err, context.Canceled) {
			t.Fatalf("interrupted run: %v", err)
		}
		return dir
	}
	tests := []struct {
		name    string
		change  func(t *testing.T, dir string, s *Settings)
		wantErr string
	}{
		{"another seed", func(t *testing.T, dir string, s *Settings) { s.Seed = 6 }, "seed: 5 recorded, 6 now"},
		{"another width", func(t *testing.T, dir string, s *Settings) { s.ModelConfig.Hidden = 16 }, "model_config.hidden: 32 recorded, 16 now"},
		{"state damaged", func(t *testing.T, dir string, s *Settings) {
			ck, _ := latestCheckpoint(dir)
			os.WriteFile(filepath.Join(ck, checkpointStateFile), []byte("{"), 0o644)
		}, "checkpoint"},
		{"variables removed", func(t *testing.T, dir string, s *Settings) {
			ck, _ := latestCheckpoint(dir)
			entries, _ := os.ReadDir(ck)
			for _, e := range entries {
				if strings.HasSuffix(e.Name(), ".bin") {
					os.WriteFile(filepath.Join(ck, e.Name()), []byte("short"), 0o644)
				}
			}
		}, "checkpoint"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := interrupted(t)
			other := s
			tc.change(t, dir, &other)
			before := listDir(t, dir)
			config, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
			_, err := Train(context.Background(), backend, set, other, dir, nil)
			if !errors.Is(err, ErrBadCheckpoint) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %v saying %q", err, ErrBadCheckpoint, tc.wantErr)
			}
			if after := listDir(t, dir); strings.Join(after, ",") != strings.Join(before, ",") {
				t.Errorf("files %v became %v", before, after)
			}
			if now, _ := os.ReadFile(filepath.Join(dir, ConfigFile)); !bytes.Equal(now, config) {
				t.Errorf("%s changed", ConfigFile)
			}
		})
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestRunStudyResumesFromCheckpoint interrupts a study once its run has a checkpoint: the
// run's temporary directory stays, and the study run again resumes it and ends with the
// run an uninterrupted study trains. A damaged checkpoint is dropped and the run trained
// from its start.
func TestRunStudyResumesFromCheckpoint(t *testing.T) {
	d := synthDataset(40, 20, 4, 4, 1, 3, 1)
	s := tinyStudy(1)
	s.Kinds = []string{KindCorrupted}
	s.Run.Epochs = 40
	whole, err := RunStudy(context.Background(), d, s, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	wholeWeights, err := LoadWeights(filepath.Join(whole.Dir, RunsDir, "corrupted-0000", FinalWeightsFile))
	if err != nil {
		t.Fatal(err)
	}

	interrupted := func(t *testing.T) string {
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { // cancel once the run has saved a checkpoint
			for ctx.Err() == nil {
				if resumableTemp(dir, StudyRun{Kind: KindCorrupted}) != "" {
					cancel()
				}
				time.Sleep(time.Millisecond)
			}
		}()
		if _, err := RunStudy(ctx, d, s, dir, nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("interrupted study: %v", err)
		}
		if resumableTemp(dir, StudyRun{Kind: KindCorrupted}) == "" {
			t.Fatalf("the interrupted run's checkpoint is gone: %v", listDir(t, filepath.Join(dir, RunsDir)))
		}
		return dir
	}
	tests := []struct {
		name        string
		damage      bool
		wantResumed bool
	}{
		{"resumed", false, true},
		{"damaged checkpoint", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := interrupted(t)
			if tc.damage {
				ck, _ := latestCheckpoint(resumableTemp(dir, StudyRun{Kind: KindCorrupted}))
				os.WriteFile(filepath.Join(ck, checkpointStateFile), []byte("{"), 0o644)
			}
			var log bytes.Buffer
			res, err := RunStudy(context.Background(), d, s, dir, &log)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(log.String(), "(1 resume from checkpoints)"); !got {
				t.Errorf("progress %q does not count the run to resume", log.String())
			}
			if res.Trained != 1 || len(res.Finished) != 1 {
				t.Fatalf("trained %d, finished %d", res.Trained, len(res.Finished))
			}
			run := filepath.Join(dir, RunsDir, "corrupted-0000")
			w, err := LoadWeights(filepath.Join(run, FinalWeightsFile))
			if err != nil || !sameWeights(w, wholeWeights) {
				t.Errorf("final weights (%v) differ from the uninterrupted study's", err)
			}
			if left := listDir(t, filepath.Join(dir, RunsDir)); len(left) != 1 || HasCheckpoint(run) {
				t.Errorf("runs/ holds %v; the finished run's checkpoint stays: %v", left, HasCheckpoint(run))
			}
			var rc RunConfig
			data, _ := os.ReadFile(filepath.Join(run, ConfigFile))
			json.Unmarshal(data, &rc)
			if resumed := len(rc.ResumedAfter) == 1; resumed != tc.wantResumed {
				t.Errorf("config.json resumed_after_epochs %v, want resumed %v", rc.ResumedAfter, tc.wantResumed)
			}
		})
	}
}
