package experiment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomlx/compute"
	gmodel "github.com/gomlx/gomlx/ml/model"

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
	tests := []struct {
		name     string
		settings Settings
		corrupt  bool
		stopped  int             // the epoch after which it is interrupted
		resumeAs func(*Settings) // what the resuming call changes, if anything
	}{
		{"mlp adam corrupted", withEpochs(adamMLP, 4), true, 2, nil},
		{"mlp sgd momentum weight decay cosine", withEpochs(sgdMLP, 3), false, 1, nil},
		{"mlp adam 3 steps per call", withEpochs(withStepsPerCall(adamMLP, 3), 3), false, 2, nil},
		{"mlp adam resumed with 2 steps per call", withEpochs(adamMLP, 3), true, 1, func(s *Settings) { s.StepsPerCall = 2 }},
		{"lenet", withEpochs(leNetRun, 2), true, 1, nil},
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

// TestTrainRestartsBeforeFirstCheckpoint: a run interrupted before its first checkpoint
// starts again in its directory, ending as the run in one go; given other settings there,
// Train refuses, the files unchanged. CheckpointEpoch says what a checkpoint holds.
func TestTrainRestartsBeforeFirstCheckpoint(t *testing.T) {
	d := synthDataset(150, 40, 8, 8, 1, 3, 21)
	s := withEpochs(adamMLP, 2)
	set := corrupt.Clean(d)
	whole, err := Train(context.Background(), nil, set, s, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "run")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := Train(ctx, nil, set, s, dir, &cancelAfter{prefix: "epoch 0/", cancel: cancel}); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	if _, ok := CheckpointEpoch(dir); ok || HasCheckpoint(dir) {
		t.Fatalf("a checkpoint before the first epoch: %v", listDir(t, dir))
	}
	other := s
	other.Seed = 9
	before := listDir(t, dir)
	config, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
	if _, err := Train(context.Background(), nil, set, other, dir, nil); !errors.Is(err, ErrBadCheckpoint) || !strings.Contains(err.Error(), "seed: 0 recorded, 9 now") {
		t.Errorf("another run's start: error %v, want %v naming the seed", err, ErrBadCheckpoint)
	}
	if now, _ := os.ReadFile(filepath.Join(dir, ConfigFile)); !bytes.Equal(now, config) || strings.Join(listDir(t, dir), ",") != strings.Join(before, ",") {
		t.Errorf("refused, yet the files changed: %v", listDir(t, dir))
	}
	again, err := Train(context.Background(), nil, set, s, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !sameWeights(again.Final, whole.Final) || encodedMetrics(t, again) != encodedMetrics(t, whole) {
		t.Error("started again, the run does not end as the run in one go")
	}

	everyEpoch(t)
	dir = filepath.Join(t.TempDir(), "run")
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	if _, err := Train(ctx, nil, set, withEpochs(s, 3), dir, &cancelAfter{prefix: "epoch 2/", cancel: cancel}); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	if epochs, ok := CheckpointEpoch(dir); !ok || epochs != 2 {
		t.Errorf("CheckpointEpoch = %d, %v; want 2 (files %v)", epochs, ok, listDir(t, dir))
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
		{"named as a diverged run's end", func(t *testing.T, dir string, s *Settings) {
			ck, _ := latestCheckpoint(dir)
			os.Rename(ck, ck+divergedSuffix)
		}, `holds a run whose status is ""`},
		{"a status no run has", func(t *testing.T, dir string, s *Settings) {
			ck, _ := latestCheckpoint(dir)
			path := filepath.Join(ck, checkpointStateFile)
			var st map[string]any
			data, _ := os.ReadFile(path)
			json.Unmarshal(data, &st)
			st["status"] = "exploded"
			data, _ = json.Marshal(st)
			os.WriteFile(path, data, 0o644)
		}, `status "exploded"`},
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
			// What a process killed while it replaced metrics.jsonl leaves: not carried
			// into the finished run.
			if err := os.WriteFile(filepath.Join(checkpointedTemp(dir), ".tmp-metrics.jsonl-123"), []byte("{"), 0o644); err != nil {
				t.Fatal(err)
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
			for _, name := range listDir(t, run) {
				if strings.HasPrefix(name, ".") {
					t.Errorf("the finished run holds %s", name)
				}
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

// ensembleRuns returns the sets and settings of an ensemble of s with seeds, corrupted
// if corrupted.
func ensembleRuns(t *testing.T, d *datasets.Dataset, s Settings, corrupted bool, seeds ...uint64) ([]*corrupt.Set, []Settings) {
	t.Helper()
	sets := make([]*corrupt.Set, len(seeds))
	settings := make([]Settings, len(seeds))
	for i, seed := range seeds {
		settings[i], sets[i] = s, corrupt.Clean(d)
		settings[i].Seed = seed
		if corrupted {
			settings[i].Corruption = corrupt.Settings{Seed: seed}
			var err error
			if sets[i], err = corrupt.Build(d, settings[i].Corruption); err != nil {
				t.Fatal(err)
			}
		}
	}
	return sets, settings
}

// interruptedEnsemble trains an ensemble into new directories and cancels it once its
// epoch line for stopped is out; every member must be left with a checkpoint.
func interruptedEnsemble(t *testing.T, sets []*corrupt.Set, settings []Settings, stopped int) []string {
	t.Helper()
	dirs := make([]string, len(sets))
	for i := range dirs {
		dirs[i] = filepath.Join(t.TempDir(), "member")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := &cancelAfter{prefix: "epoch " + strconv.Itoa(stopped) + "/", cancel: cancel}
	if _, err := TrainEnsemble(ctx, nil, sets, settings, dirs, stop); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted ensemble: error %v, want %v", err, context.Canceled)
	}
	for i, dir := range dirs {
		if !HasCheckpoint(dir) {
			t.Fatalf("member %d has no checkpoint after the interrupted ensemble; files: %v", i, listDir(t, dir))
		}
	}
	return dirs
}

// TestTrainEnsembleResumes interrupts ensembles after an epoch. Trained again into the
// same directories, the ensemble resumes and ends where the ensemble trained in one go
// does, bit for bit. A member's checkpoint is a run's: Train resumes it alone, and a
// smaller ensemble resumes some of the members, ending where the members do up to float
// rounding.
func TestTrainEnsembleResumes(t *testing.T) {
	d := synthDataset(150, 40, 8, 8, 1, 3, 21)
	tests := []struct {
		name     string
		settings Settings
		corrupt  bool
		stacked  bool
		stopped  int
	}{
		{"mlp adam corrupted", withEpochs(adamMLP, 4), true, false, 2},
		{"mlp adam corrupted stacked", withEpochs(adamMLP, 3), true, true, 1},
		{"mlp sgd momentum weight decay cosine", withEpochs(sgdMLP, 3), false, false, 1},
		{"lenet", withEpochs(leNetRun, 2), true, false, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func(f func(compute.Backend) bool) { stackedEnsemble = f }(stackedEnsemble)
			stackedEnsemble = func(compute.Backend) bool { return tc.stacked }
			sets, settings := ensembleRuns(t, d, tc.settings, tc.corrupt, 3, 17, 40)
			whole, err := TrainEnsemble(context.Background(), nil, sets, settings, nil, nil)
			if err != nil {
				t.Fatal(err)
			}

			dirs := interruptedEnsemble(t, sets, settings, tc.stopped)
			var log bytes.Buffer
			resumed, err := TrainEnsemble(context.Background(), nil, sets, settings, dirs, &log)
			if err != nil {
				t.Fatal(err)
			}
			m := regexp.MustCompile(`resuming 3 runs of an ensemble after epoch (\d+) of`).FindStringSubmatch(log.String())
			after := -1
			if m != nil {
				after, _ = strconv.Atoi(m[1])
			}
			if after < 1 || after > tc.stopped {
				t.Errorf("progress %q does not say it resumes after an epoch from 1 to %d", log.String(), tc.stopped)
			}
			for i := range resumed {
				if !sameWeights(resumed[i].Final, whole[i].Final) {
					t.Errorf("member %d: the resumed ensemble's final weights differ from the ensemble trained in one go", i)
				}
				if got, want := encodedMetrics(t, resumed[i]), encodedMetrics(t, whole[i]); got != want {
					t.Errorf("member %d: metrics resumed\n%s\nin one go\n%s", i, got, want)
				}
				if HasCheckpoint(dirs[i]) {
					t.Errorf("member %d: the finished run keeps a checkpoint: %v", i, listDir(t, dirs[i]))
				}
				var rc RunConfig
				data, _ := os.ReadFile(filepath.Join(dirs[i], ConfigFile))
				if err := json.Unmarshal(data, &rc); err != nil || rc.Ensemble != 3 || len(rc.Resumed) != 1 ||
					rc.Resumed[0].AfterEpoch != after || rc.Resumed[0].Ensemble != 3 {
					t.Errorf("member %d config.json: %v; ensemble %d, resumed %+v, want after epoch %d in an ensemble of 3", i, err, rc.Ensemble, rc.Resumed, after)
				}
			}

			// The members' checkpoints, resumed elsewhere: member 2 alone, 0 and 1 as
			// an ensemble of two.
			dirs = interruptedEnsemble(t, sets, settings, tc.stopped)
			alone, err := Train(context.Background(), nil, sets[2], settings[2], dirs[2], &log)
			if err != nil {
				t.Fatal(err)
			}
			pair, err := TrainEnsemble(context.Background(), nil, sets[:2], settings[:2], dirs[:2], nil)
			if err != nil {
				t.Fatal(err)
			}
			for i, got := range append(pair, alone) {
				if dist, _, err := Distance(got.Final, whole[i].Final); err != nil || dist > 1e-3*whole[i].Final.Norm() {
					t.Errorf("member %d resumed in another ensemble: final weights %v from the ensemble's in one go (norm %v), err %v",
						i, dist, whole[i].Final.Norm(), err)
				}
				if got.Steps != whole[i].Steps || len(got.Metrics) != len(whole[i].Metrics) {
					t.Errorf("member %d resumed in another ensemble: %d steps, %d metrics lines; want %d, %d",
						i, got.Steps, len(got.Metrics), whole[i].Steps, len(whole[i].Metrics))
				}
			}
			var rc RunConfig
			data, _ := os.ReadFile(filepath.Join(dirs[2], ConfigFile))
			if err := json.Unmarshal(data, &rc); err != nil || len(rc.Resumed) != 1 || rc.Resumed[0].Ensemble != 0 {
				t.Errorf("member 2 resumed alone: config.json %v, resumed %+v", err, rc.Resumed)
			}
		})
	}
}

// TestTrainEnsembleResumesDiverged: a member that diverges saves its end at once, and
// an ensemble interrupted later resumes with it as it was: every member ends where the
// ensemble trained in one go does, bit for bit. Train resumes the diverged member's
// directory alone, to the same end, training nothing.
func TestTrainEnsembleResumesDiverged(t *testing.T) {
	everyEpoch(t)
	d := synthDataset(150, 40, 8, 8, 1, 3, 21)
	// At this rate the run of seed 1 diverges in its first epoch; those of 2-4 do not.
	s := Settings{Model: "mlp", ModelConfig: models.Config{Hidden: 16}, Epochs: 4, BatchSize: 32,
		Optimizer: Optimizer{Name: SGD, LearningRate: 1e8}}
	sets, settings := ensembleRuns(t, d, s, false, 1, 2, 3, 4)
	whole, err := TrainEnsemble(context.Background(), nil, sets, settings, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range whole {
		if want := map[bool]string{true: StatusDiverged, false: StatusOK}[i == 0]; r.Status != want {
			t.Fatalf("member %d (seed %d) ended %q, want %q: the test needs one member to diverge in its first epoch and the others not", i, settings[i].Seed, r.Status, want)
		}
	}

	dirs := interruptedEnsemble(t, sets, settings, 2)
	if ck, _ := latestCheckpoint(dirs[0]); filepath.Base(ck) != checkpointPrefix+"000001-diverged" {
		t.Fatalf("the diverged member's checkpoint is %q, want its end in epoch 1; files: %v", ck, listDir(t, dirs[0]))
	}
	if epochs, ok := CheckpointEpoch(dirs[0]); !ok || epochs != 0 {
		t.Errorf("CheckpointEpoch of the member that diverged in epoch 1 = %d, %v; want 0 epochs done", epochs, ok)
	}
	var log bytes.Buffer
	resumed, err := TrainEnsemble(context.Background(), nil, sets, settings, dirs, &log)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`resuming 4 runs of an ensemble after epoch [12] of 4 \(1 diverged before\)`).MatchString(log.String()) {
		t.Errorf("progress %q does not say it resumes with a member that diverged before", log.String())
	}
	for i := range resumed {
		if resumed[i].Status != whole[i].Status || !sameWeights(resumed[i].Final, whole[i].Final) {
			t.Errorf("member %d: resumed %q, in one go %q; final weights the same: %v", i, resumed[i].Status, whole[i].Status, sameWeights(resumed[i].Final, whole[i].Final))
		}
		if got, want := encodedMetrics(t, resumed[i]), encodedMetrics(t, whole[i]); got != want {
			t.Errorf("member %d: metrics resumed\n%s\nin one go\n%s", i, got, want)
		}
		if w, err := LoadWeights(filepath.Join(dirs[i], FinalWeightsFile)); err != nil || !sameWeights(w, whole[i].Final) {
			t.Errorf("member %d: final.safetensors (%v) is not the final weights", i, err)
		}
		if HasCheckpoint(dirs[i]) {
			t.Errorf("member %d: the finished run keeps a checkpoint: %v", i, listDir(t, dirs[i]))
		}
	}

	dirs = interruptedEnsemble(t, sets, settings, 1)
	log.Reset()
	alone, err := Train(context.Background(), nil, sets[0], settings[0], dirs[0], &log)
	if err != nil {
		t.Fatal(err)
	}
	if alone.Status != StatusDiverged || !sameWeights(alone.Final, whole[0].Final) || encodedMetrics(t, alone) != encodedMetrics(t, whole[0]) {
		t.Errorf("the diverged member resumed alone: %q, final weights and metrics those of the ensemble in one go: %v, %v",
			alone.Status, sameWeights(alone.Final, whole[0].Final), encodedMetrics(t, alone) == encodedMetrics(t, whole[0]))
	}
	if !strings.Contains(log.String(), "diverged in epoch 1: its checkpoint is its end") || strings.Contains(log.String(), "epoch 1/") {
		t.Errorf("progress %q: want the diverged run's end restored, no epoch trained", log.String())
	}
	if HasCheckpoint(dirs[0]) {
		t.Errorf("the finished run keeps a checkpoint: %v", listDir(t, dirs[0]))
	}

	// In an ensemble of its own, likewise.
	dirs = interruptedEnsemble(t, sets, settings, 1)
	log.Reset()
	own, err := TrainEnsemble(context.Background(), nil, sets[:1], settings[:1], dirs[:1], &log)
	if err != nil {
		t.Fatal(err)
	}
	if !sameWeights(own[0].Final, whole[0].Final) || encodedMetrics(t, own[0]) != encodedMetrics(t, whole[0]) ||
		!strings.Contains(log.String(), "every run of the ensemble (1) had diverged") || strings.Contains(log.String(), "epoch 1/") {
		t.Errorf("the diverged member resumed in an ensemble of its own: final weights and metrics those of the ensemble in one go: %v, %v; progress %q",
			sameWeights(own[0].Final, whole[0].Final), encodedMetrics(t, own[0]) == encodedMetrics(t, whole[0]), log.String())
	}
}

// TestTrainEnsembleRefusesMixedCheckpoints: members resume together, from one epoch; an
// ensemble whose directories hold checkpoints of different epochs, or only some of them
// one, is refused, its files unchanged.
func TestTrainEnsembleRefusesMixedCheckpoints(t *testing.T) {
	d := synthDataset(150, 40, 8, 8, 1, 3, 21)
	s := adamMLP
	s.Epochs = 3
	// At this rate the run of seed 1 diverges in its first epoch, that of seed 2 not.
	diverging := Settings{Model: "mlp", ModelConfig: models.Config{Hidden: 16}, Epochs: 3, BatchSize: 32,
		Optimizer: Optimizer{Name: SGD, LearningRate: 1e8}}
	tests := []struct {
		name     string
		settings Settings
		seeds    []uint64
		change   func(t *testing.T, dirs []string, sets []*corrupt.Set, settings []Settings) []string
		wantErr  string
	}{
		{"one without a checkpoint", s, []uint64{3, 17}, func(t *testing.T, dirs []string, _ []*corrupt.Set, _ []Settings) []string {
			return []string{dirs[0], filepath.Join(t.TempDir(), "fresh")}
		}, "fresh has no checkpoint while "},
		{"one without a run directory", s, []uint64{3, 17}, func(t *testing.T, dirs []string, _ []*corrupt.Set, _ []Settings) []string {
			return []string{dirs[0], ""}
		}, "member 1 (no run directory) has no checkpoint"},
		{"checkpoints of two epochs", s, []uint64{3, 17}, func(t *testing.T, dirs []string, _ []*corrupt.Set, _ []Settings) []string {
			ck, _ := latestCheckpoint(dirs[1])
			if err := os.Rename(ck, filepath.Join(dirs[1], checkpointPrefix+"000099")); err != nil {
				t.Fatal(err)
			}
			return dirs
		}, "from one epoch"},
		{"a member's checkpoint damaged", s, []uint64{3, 17}, func(t *testing.T, dirs []string, _ []*corrupt.Set, _ []Settings) []string {
			editCheckpoint(t, dirs[1], ".bin", func(data []byte) []byte { data[len(data)/2] ^= 1; return data })
			return dirs
		}, "does not come back as it was saved"},
		// A run that diverged ends as it did next to runs that start again, but not next to
		// a finished run, which would be trained again.
		{"a finished run next to a diverged end", diverging, []uint64{1, 2}, func(t *testing.T, dirs []string, sets []*corrupt.Set, settings []Settings) []string {
			if _, err := Train(context.Background(), nil, sets[1], settings[1], dirs[1], nil); err != nil {
				t.Fatal(err)
			}
			return dirs
		}, "holds a finished run"},
		// Refused before the member without a checkpoint is started in its directory.
		{"a diverged end damaged", diverging, []uint64{2, 1}, func(t *testing.T, dirs []string, _ []*corrupt.Set, _ []Settings) []string {
			editCheckpoint(t, dirs[1], ".bin", func(data []byte) []byte { data[len(data)/2] ^= 1; return data })
			return []string{filepath.Join(t.TempDir(), "fresh"), dirs[1]}
		}, "does not come back as it was saved"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sets, settings := ensembleRuns(t, d, tc.settings, tc.settings.Optimizer.Name != SGD, tc.seeds...)
			dirs := tc.change(t, interruptedEnsemble(t, sets, settings, 1), sets, settings)
			var before []string
			var configs [][]byte
			for _, dir := range dirs {
				if dir == "" {
					before, configs = append(before, ""), append(configs, nil)
					continue
				}
				os.MkdirAll(dir, 0o755)
				before = append(before, strings.Join(listDir(t, dir), ","))
				config, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
				configs = append(configs, config)
			}
			_, err := TrainEnsemble(context.Background(), nil, sets, settings, dirs, nil)
			if !errors.Is(err, ErrBadCheckpoint) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %v saying %q", err, ErrBadCheckpoint, tc.wantErr)
			}
			for i, dir := range dirs {
				if dir == "" {
					continue
				}
				if after := strings.Join(listDir(t, dir), ","); after != before[i] {
					t.Errorf("member %d: files %v became %v", i, before[i], after)
				}
				if now, _ := os.ReadFile(filepath.Join(dir, ConfigFile)); !bytes.Equal(now, configs[i]) {
					t.Errorf("member %d: %s changed", i, ConfigFile)
				}
			}
		})
	}
}

// TestRunStudyResumesEnsembles interrupts a study that trains in ensembles once its
// members have checkpoints. Run again, the study resumes them as an ensemble and ends
// with the runs of the uninterrupted study, bit for bit; run again in ensembles of one,
// it resumes each run alone. A damaged member's checkpoint is dropped, and the other
// member resumes without it.
func TestRunStudyResumesEnsembles(t *testing.T) {
	d := synthDataset(40, 20, 4, 4, 1, 3, 1)
	s := tinyStudy(2)
	s.Kinds = []string{KindCorrupted}
	s.Run.Epochs, s.Ensemble, s.Workers = 40, 2, 1
	whole, err := RunStudy(context.Background(), d, s, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"corrupted-0000", "corrupted-0001"}
	wholeWeights := make([]*Weights, len(names))
	for i, name := range names {
		if wholeWeights[i], err = LoadWeights(filepath.Join(whole.Dir, RunsDir, name, FinalWeightsFile)); err != nil {
			t.Fatal(err)
		}
	}
	interrupted := func(t *testing.T) string {
		dir, cks := interruptedStudy(t, d, s, func(cks []string) bool { return len(cks) == 2 })
		if len(cks) != 2 || filepath.Base(cks[0]) != filepath.Base(cks[1]) {
			t.Fatalf("the interrupted members' checkpoints: %v", cks)
		}
		return dir
	}
	tests := []struct {
		name     string
		ensemble int
		damage   bool
		resumed  []int // per run, the ensemble size config.json records its resumption with; -1: none
		bitwise  bool  // the same runs bit for bit as the uninterrupted study's
	}{
		{"resumed as an ensemble", 2, false, []int{2, 2}, true},
		{"resumed alone", 1, false, []int{0, 0}, false},
		// Only the damaged checkpoint is dropped: the other run resumes, alone.
		{"a member's checkpoint damaged", 2, true, []int{0, -1}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := interrupted(t)
			if tc.damage {
				editCheckpoint(t, filepath.Dir(studyCheckpoints(dir)[1]), ".bin", func(data []byte) []byte { data[len(data)/2] ^= 1; return data })
			}
			rerun := s
			rerun.Ensemble = tc.ensemble
			var log bytes.Buffer
			res, err := RunStudy(context.Background(), d, rerun, dir, &log)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(log.String(), "(2 with a checkpoint to resume from)") {
				t.Errorf("progress %q does not count the runs to resume", log.String())
			}
			if dropped := strings.Count(log.String(), "dropping its checkpoint"); dropped != strings.Count(log.String(), "corrupted-0001: dropping its checkpoint") ||
				(dropped == 1) != tc.damage {
				t.Errorf("progress %q: want corrupted-0001's checkpoint dropped: %v", log.String(), tc.damage)
			}
			if res.Trained != 2 || len(res.Finished) != 2 {
				t.Fatalf("trained %d, finished %d", res.Trained, len(res.Finished))
			}
			for i, name := range names {
				run := filepath.Join(dir, RunsDir, name)
				w, err := LoadWeights(filepath.Join(run, FinalWeightsFile))
				if err != nil {
					t.Fatal(err)
				}
				if dist, _, _ := Distance(w, wholeWeights[i]); (tc.bitwise && !sameWeights(w, wholeWeights[i])) || dist > 1e-3*w.Norm() {
					t.Errorf("%s: final weights %v from the uninterrupted study's (bit for bit wanted: %v)", name, dist, tc.bitwise)
				}
				if HasCheckpoint(run) {
					t.Errorf("%s keeps a checkpoint", name)
				}
				var rc RunConfig
				data, _ := os.ReadFile(filepath.Join(run, ConfigFile))
				json.Unmarshal(data, &rc)
				if want := tc.resumed[i]; want < 0 && len(rc.Resumed) != 0 || want >= 0 && (len(rc.Resumed) != 1 || rc.Resumed[0].Ensemble != want) {
					t.Errorf("%s config.json resumed %+v, want resumed in an ensemble of %d (-1: not resumed)", name, rc.Resumed, want)
				}
			}
			if left := listDir(t, filepath.Join(dir, RunsDir)); len(left) != 2 {
				t.Errorf("runs/ holds %v", left)
			}
		})
	}
}

// TestRunStudyResumesDivergedMembers interrupts a study whose ensemble has members that
// diverged in their first epoch: rerun, the ensemble resumes whole, the diverged members'
// ends restored as they were, and the study ends where the uninterrupted one does, bit for
// bit. Rerun in smaller ensembles, or alone, it ends there too (up to float rounding).
func TestRunStudyResumesDivergedMembers(t *testing.T) {
	everyEpoch(t)
	d := synthDataset(150, 40, 8, 8, 1, 3, 21)
	// At this rate runs 0 and 2 of the study's seed 2 diverge at once, 1 and 3 do not.
	s := StudySettings{Run: Settings{Model: "mlp", ModelConfig: models.Config{Hidden: 16}, Epochs: 30, BatchSize: 32,
		Optimizer: Optimizer{Name: SGD, LearningRate: 1e10}}, Runs: 4, Seed: 2, Kinds: []string{KindNormal}, Ensemble: 4, Workers: 1}
	whole, err := RunStudy(context.Background(), d, s, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var statuses []string
	for _, r := range whole.Finished {
		statuses = append(statuses, r.Status)
	}
	if want := []string{StatusDiverged, StatusOK, StatusDiverged, StatusOK}; !slices.Equal(statuses, want) {
		t.Fatalf("the uninterrupted study's runs ended %v; the test needs %v", statuses, want)
	}
	interrupted := func(t *testing.T) string {
		dir, cks := interruptedStudy(t, d, s, func(cks []string) bool {
			// the runs that go on are past their first checkpoint
			return len(cks) == 4 && !slices.ContainsFunc(cks, func(ck string) bool { return strings.HasSuffix(ck, "e000001") })
		})
		if len(cks) != 4 || !isDivergedCheckpoint(cks[0]) || isDivergedCheckpoint(cks[1]) || !isDivergedCheckpoint(cks[2]) {
			t.Fatalf("the interrupted runs' checkpoints: %v", cks)
		}
		return dir
	}
	for _, ensemble := range []int{4, 2, 1} {
		t.Run(fmt.Sprintf("ensemble %d", ensemble), func(t *testing.T) {
			dir := interrupted(t)
			rerun := s
			rerun.Ensemble = ensemble
			var log bytes.Buffer
			res, err := RunStudy(context.Background(), d, rerun, dir, &log)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(log.String(), "(4 with a checkpoint to resume from)") || strings.Contains(log.String(), "dropping") {
				t.Errorf("progress %q: want 4 runs resumed, none dropped", log.String())
			}
			if len(res.Finished) != 4 {
				t.Fatalf("finished %d", len(res.Finished))
			}
			for i, r := range res.Finished {
				want := whole.Finished[i]
				w, err := LoadWeights(filepath.Join(dir, RunsDir, r.Name(), FinalWeightsFile))
				if err != nil {
					t.Fatal(err)
				}
				if r.Status != want.Status || r.Steps != want.Steps || (ensemble == 4 || r.Status == StatusDiverged) && r.FinalSHA256 != want.FinalSHA256 {
					t.Errorf("%s: %s after %d steps, weights %s; uninterrupted %s after %d steps, weights %s",
						r.Name(), r.Status, r.Steps, r.FinalSHA256, want.Status, want.Steps, want.FinalSHA256)
				}
				wantWeights, _ := LoadWeights(filepath.Join(whole.Dir, RunsDir, r.Name(), FinalWeightsFile))
				if dist, _, _ := Distance(w, wantWeights); r.Status == StatusOK && !(dist <= 1e-3*w.Norm()) {
					t.Errorf("%s: final weights %v from the uninterrupted study's", r.Name(), dist)
				}
			}
		})
	}
}

// studyCheckpoints lists the checkpoints in the temporary run directories of the study
// in dir.
func studyCheckpoints(dir string) []string {
	cks, _ := filepath.Glob(filepath.Join(dir, RunsDir, ".tmp-*", checkpointPrefix+"*"))
	return cks
}

// interruptedStudy runs the study s of d in a new directory and cancels it once ready
// holds for its checkpoints (studyCheckpoints). It returns the directory and the
// checkpoints left there.
func interruptedStudy(t *testing.T, d *datasets.Dataset, s StudySettings, ready func(cks []string) bool) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			if ready(studyCheckpoints(dir)) {
				cancel()
			}
			time.Sleep(time.Millisecond)
		}
	}()
	if _, err := RunStudy(ctx, d, s, dir, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted study: %v", err)
	}
	return dir, studyCheckpoints(dir)
}

// slowEpochs is a progress writer that sleeps after every epoch line and calls at once on
// the line that starts with prefix.
type slowEpochs struct {
	prefix string
	at     func()
}

func (w slowEpochs) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, []byte(w.prefix)) {
		w.at()
	}
	if bytes.HasPrefix(p, []byte("epoch ")) {
		time.Sleep(20 * time.Millisecond)
	}
	return len(p), nil
}

// everyEpoch makes runs save a checkpoint after every epoch until the test ends.
func everyEpoch(t *testing.T) {
	defer func(c time.Duration) { t.Cleanup(func() { checkpointCost = c }) }(checkpointCost)
	checkpointCost = 0
}

// TestEnsembleCheckpointsOneEpoch: members' checkpoints are all written before any is put
// in place, so a save that fails for one member leaves every member at the epoch of the
// last checkpoint they all have. A member without a run directory has none, and the
// others still save theirs.
func TestEnsembleCheckpointsOneEpoch(t *testing.T) {
	everyEpoch(t)
	d := synthDataset(150, 40, 8, 8, 1, 3, 21)
	sets, settings := ensembleRuns(t, d, withEpochs(adamMLP, 4), false, 1, 2, 3)
	dirs := []string{filepath.Join(t.TempDir(), "m0"), filepath.Join(t.TempDir(), "m1"), filepath.Join(t.TempDir(), "m2")}
	// Member 1's second checkpoint cannot be written (a full disk).
	defer func(f func(*gmodel.Store, string, checkpointState) (string, error)) { writeCheckpoint = f }(writeCheckpoint)
	full := errors.New("no space left on device")
	writeCheckpoint = func(store *gmodel.Store, runDir string, st checkpointState) (string, error) {
		if runDir == dirs[1] && st.Epoch == 2 {
			return "", full
		}
		return writeCheckpointFolder(store, runDir, st)
	}
	if _, err := TrainEnsemble(context.Background(), nil, sets, settings, dirs, nil); !errors.Is(err, full) {
		t.Fatalf("error %v, want %v", err, full)
	}
	for _, i := range []int{0, 2} {
		ck, _ := latestCheckpoint(dirs[i])
		if filepath.Base(ck) != checkpointPrefix+"000001" || len(listDir(t, dirs[i])) != 4 {
			t.Errorf("member %d: latest checkpoint %s, files %v; want only the epoch-1 checkpoint beside its files", i, ck, listDir(t, dirs[i]))
		}
	}

	writeCheckpoint = writeCheckpointFolder

	cwd, _ := os.Getwd()
	defer os.Chdir(cwd)
	work := t.TempDir()
	os.Chdir(work)
	dirs = []string{"", filepath.Join(t.TempDir(), "m1"), ""}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := TrainEnsemble(ctx, nil, sets, settings, dirs, slowEpochs{"epoch 2/", cancel}); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted ensemble: error %v, want %v", err, context.Canceled)
	}
	if !HasCheckpoint(dirs[1]) {
		t.Errorf("member 1 saved no checkpoint beside members without a directory: %v", listDir(t, dirs[1]))
	}
	if res, err := TrainEnsemble(context.Background(), nil, sets[1:2], settings[1:2], dirs[1:2], nil); err != nil || len(res[0].Config.Resumed) != 1 {
		t.Errorf("member 1 resumed in an ensemble of one: %v", err)
	}
	if _, err := TrainEnsemble(context.Background(), nil, sets, settings, []string{"", "", ""}, nil); err != nil {
		t.Errorf("members without directories: %v", err)
	}
	if left := listDir(t, work); len(left) > 0 {
		t.Errorf("left in the working directory: %v", left)
	}
}

// TestTrainEnsembleJoinsRuns resumes, as one ensemble, runs interrupted apart: one a member
// of an ensemble, one trained alone and slowly. Each run's metrics count its own seconds.
func TestTrainEnsembleJoinsRuns(t *testing.T) {
	d := synthDataset(150, 40, 8, 8, 1, 3, 21)
	sets, settings := ensembleRuns(t, d, withEpochs(adamMLP, 3), true, 3, 17)
	dirs := interruptedEnsemble(t, sets, settings, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dirs[1] = filepath.Join(t.TempDir(), "alone")
	if _, err := Train(ctx, nil, sets[1], settings[1], dirs[1], slowEpochs{"epoch 1/", cancel}); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	res, err := TrainEnsemble(context.Background(), nil, sets, settings, dirs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		for e := 1; e < len(r.Metrics); e++ {
			if r.Metrics[e].Seconds < r.Metrics[e-1].Seconds {
				t.Errorf("member %d: metrics seconds go back in time at epoch %d: %v then %v", i, e, r.Metrics[e-1].Seconds, r.Metrics[e].Seconds)
			}
		}
	}
}

// TestStudyGroupTakeoverFails: of a group resuming together, one run's folder was taken
// over by another process first. That run starts afresh, and the others resume without
// it.
func TestStudyGroupTakeoverFails(t *testing.T) {
	d := synthDataset(40, 20, 4, 4, 1, 3, 1)
	s := tinyStudy(3)
	s.Kinds = []string{KindCorrupted}
	s.Run.Epochs, s.Ensemble, s.Workers = 40, 3, 1
	dir, _ := interruptedStudy(t, d, s, func(cks []string) bool { return len(cks) == 3 })

	// What RunStudy does before its workers start; then another process takes
	// corrupted-0001's folder.
	s = s.normalized(d)
	group := s.Plan()
	resumeFrom := map[string]string{}
	for _, r := range group {
		ck, err := removeStale(dir, r, true)
		if err != nil || ck == "" {
			t.Fatalf("%s: checkpoint %q, %v", r.Name(), ck, err)
		}
		resumeFrom[r.Name()] = ck
	}
	if err := os.Rename(filepath.Dir(resumeFrom["corrupted-0001"]), filepath.Join(dir, RunsDir, ".tmp-corrupted-0001-other")); err != nil {
		t.Fatal(err)
	}
	backend, err := NewBackend(sequentialOps("go"))
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Finalize()
	w := &studyWorker{backend: backend}
	var log bytes.Buffer
	finished, err := w.trainRuns(context.Background(), d, s, dir, group, resumeFrom, &log)
	if err != nil || len(finished) != 3 || strings.Contains(log.String(), "dropping") {
		t.Fatalf("trainRuns: %d finished, error %v, progress %q", len(finished), err, log.String())
	}
	for name, want := range map[string]int{"corrupted-0000": 2, "corrupted-0001": -1, "corrupted-0002": 2} {
		var rc RunConfig
		data, _ := os.ReadFile(filepath.Join(dir, RunsDir, name, ConfigFile))
		json.Unmarshal(data, &rc)
		if want < 0 && len(rc.Resumed) != 0 || want >= 0 && (len(rc.Resumed) != 1 || rc.Resumed[0].Ensemble != want) {
			t.Errorf("%s config.json resumed %+v, want resumed in an ensemble of %d (-1: not resumed)", name, rc.Resumed, want)
		}
	}
}

// TestCheckpointStateCheck: a checkpoint's progress must be a run's, and the error says
// what is not.
func TestCheckpointStateCheck(t *testing.T) {
	lines := func(statuses ...string) []EpochMetrics {
		ms := make([]EpochMetrics, len(statuses))
		for i, s := range statuses {
			ms[i].Status = s
		}
		return ms
	}
	ok, div := StatusOK, StatusDiverged
	tests := []struct {
		name    string
		st      checkpointState
		wantErr string // "" for none
	}{
		{"after epoch 2", checkpointState{Epoch: 2, Metrics: lines(ok, ok, ok)}, ""},
		{"after epoch 0", checkpointState{Epoch: 0, Metrics: lines(ok)}, "epoch 0 with 1 metrics lines"},
		{"a line short", checkpointState{Epoch: 2, Metrics: lines(ok, ok)}, "epoch 2 with 2 metrics lines"},
		{"diverged in epoch 1", checkpointState{Epoch: 0, Status: div, Metrics: lines(ok, div)}, ""},
		{"diverged in epoch 3", checkpointState{Epoch: 2, Status: div, Metrics: lines(ok, ok, ok, div)}, ""},
		{"diverged, a line too many", checkpointState{Epoch: 1, Status: div, Metrics: lines(ok, ok, ok, div)}, "diverged after epoch 1 with 4 metrics lines"},
		{"diverged, its last line not", checkpointState{Epoch: 1, Status: div, Metrics: lines(ok, ok, ok)}, `its last metrics line of status "ok"`},
		{"another status", checkpointState{Epoch: 1, Status: "exploded", Metrics: lines(ok, ok)}, `status "exploded"`},
	}
	for _, tc := range tests {
		err := tc.st.check()
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.wantErr)
		}
	}
}
