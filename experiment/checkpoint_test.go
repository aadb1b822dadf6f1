package experiment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/extremepoints/esp/corrupt"
	"github.com/extremepoints/esp/datasets"
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
		stopped  int             // the epoch after which it is interrupted
		resumeAs func(*Settings) // what the resuming call changes, if anything
	}{
		{"mlp adam corrupted", longer(adamMLP, 4), true, 2, nil},
		{"mlp sgd momentum weight decay cosine", longer(sgdMLP, 3), false, 1, nil},
		{"mlp adam 3 steps per call", longer(withStepsPerCall(adamMLP, 3), 3), false, 2, nil},
		{"mlp adam resumed with 2 steps per call", longer(adamMLP, 3), true, 1, func(s *Settings) { s.StepsPerCall = 2 }},
		{"lenet", longer(leNetRun, 2), true, 1, nil},
		{"resnet batch norm", Settings{Model: "resnet", ModelConfig: models.Config{Blocks: 1}, Epochs: 2, BatchSize: 64}, true, 1, nil},
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
			again := s
			if tc.resumeAs != nil {
				tc.resumeAs(&again)
			}
			resumed, err := Train(context.Background(), backend, set, again, dir, &log)
			if err != nil {
				t.Fatal(err)
			}
			// The checkpoint is the interrupted epoch's, or an earlier one's when epochs
			// are short next to a save (checkpointCost).
			m := regexp.MustCompile(`resuming ` + regexp.QuoteMeta(dir) + ` after epoch (\d+) of`).FindStringSubmatch(log.String())
			after := -1
			if m != nil {
				after, _ = strconv.Atoi(m[1])
			}
			if after < 1 || after > tc.stopped {
				t.Errorf("progress %q does not say it resumes after an epoch from 1 to %d", log.String(), tc.stopped)
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
			if err := json.Unmarshal(data, &rc); err != nil || len(rc.Resumed) != 1 || rc.Resumed[0].AfterEpoch != after ||
				rc.Resumed[0].Settings.StepsPerCall != again.StepsPerCall || rc.Settings.StepsPerCall != s.StepsPerCall {
				t.Errorf("config.json: %v; resumed %+v, want after epoch %d with steps per call %d (at the start %d)",
					err, rc.Resumed, after, again.StepsPerCall, s.StepsPerCall)
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
		{"another evaluation batch", func(t *testing.T, dir string, s *Settings) { s.EvalBatchSize = 7 }, "eval_batch_size: 1000 recorded, 7 now"},
		{"state damaged", func(t *testing.T, dir string, s *Settings) {
			ck, _ := latestCheckpoint(dir)
			os.WriteFile(filepath.Join(ck, checkpointStateFile), []byte("{"), 0o644)
		}, "checkpoint"},
		{"a bit of the saved values flipped", func(t *testing.T, dir string, s *Settings) {
			editCheckpoint(t, dir, ".bin", func(data []byte) []byte { data[len(data)/2] ^= 1; return data })
		}, "does not come back as it was saved"},
		{"a variable left out of the saved list", func(t *testing.T, dir string, s *Settings) {
			editCheckpoint(t, dir, ".json", func(data []byte) []byte {
				var js map[string]any
				json.Unmarshal(data, &js)
				vars := js["Variables"].([]any)
				js["Variables"] = vars[:len(vars)-1]
				data, _ = json.Marshal(js)
				return data
			})
		}, "does not come back as it was saved"},
		{"variables removed", func(t *testing.T, dir string, s *Settings) {
			editCheckpoint(t, dir, ".bin", func([]byte) []byte { return []byte("short") })
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

// checkpointedTemp returns the temporary folder of a study's corrupted-0000 that holds a
// checkpoint, or "".
func checkpointedTemp(dir string) string {
	cks, _ := filepath.Glob(filepath.Join(dir, RunsDir, ".tmp-corrupted-0000-*", checkpointPrefix+"*"))
	if len(cks) == 0 {
		return ""
	}
	return filepath.Dir(cks[0])
}

// editCheckpoint rewrites the files of dir's latest checkpoint that GoMLX wrote (names
// "checkpoint-*" ending in suffix) through edit.
func editCheckpoint(t *testing.T, dir, suffix string, edit func([]byte) []byte) {
	t.Helper()
	ck, err := latestCheckpoint(dir)
	if err != nil || ck == "" {
		t.Fatalf("no checkpoint in %s (%v)", dir, err)
	}
	paths, _ := filepath.Glob(filepath.Join(ck, "checkpoint-*"+suffix))
	if len(paths) == 0 {
		t.Fatalf("no checkpoint-*%s in %s", suffix, ck)
	}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, edit(data), 0o644); err != nil {
			t.Fatal(err)
		}
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
				if checkpointedTemp(dir) != "" {
					cancel()
				}
				time.Sleep(time.Millisecond)
			}
		}()
		if _, err := RunStudy(ctx, d, s, dir, nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("interrupted study: %v", err)
		}
		if checkpointedTemp(dir) == "" {
			t.Fatalf("the interrupted run's checkpoint is gone: %v", listDir(t, filepath.Join(dir, RunsDir)))
		}
		return dir
	}
	elsewhere := *d
	elsewhere.Source = "/elsewhere/mnist"
	tests := []struct {
		name        string
		damage      bool
		rerun       func(*StudySettings)
		data        *datasets.Dataset
		wantResumed bool
	}{
		{"resumed", false, nil, d, true},
		// What a study lets change on a rerun keeps the checkpoint.
		{"resumed with ensembles of 2", false, func(s *StudySettings) { s.Ensemble = 2 }, d, true},
		{"resumed with 3 steps per call", false, func(s *StudySettings) { s.Run.StepsPerCall = 3 }, d, true},
		{"resumed reading the data from another folder", false, nil, &elsewhere, true},
		{"damaged checkpoint", true, nil, d, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := interrupted(t)
			if tc.damage {
				ck, _ := latestCheckpoint(checkpointedTemp(dir))
				os.WriteFile(filepath.Join(ck, checkpointStateFile), []byte("{"), 0o644)
			}
			rerun := s
			if tc.rerun != nil {
				tc.rerun(&rerun)
			}
			var log bytes.Buffer
			res, err := RunStudy(context.Background(), tc.data, rerun, dir, &log)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(log.String(), "(1 with a checkpoint to resume from)"); !got {
				t.Errorf("progress %q does not count the run to resume", log.String())
			}
			if dropped := strings.Contains(log.String(), "corrupted-0000: dropping its checkpoint"); dropped != tc.damage {
				t.Errorf("progress %q: says it dropped the checkpoint: %v, want %v", log.String(), dropped, tc.damage)
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
			if resumed := len(rc.Resumed) == 1; resumed != tc.wantResumed {
				t.Errorf("config.json resumed %+v, want resumed %v", rc.Resumed, tc.wantResumed)
			}
		})
	}
}
