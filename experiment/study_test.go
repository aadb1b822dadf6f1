package experiment

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/extremepoints/esp/models"
)

func tinyStudy(runs int) StudySettings {
	return StudySettings{Run: Settings{ModelConfig: models.Config{Hidden: 8}, Epochs: 2, BatchSize: 16}, Runs: runs, Seed: 3}
}

func TestParseShard(t *testing.T) {
	tests := []struct {
		in      string
		want    Shard
		wantErr bool
	}{
		{"0/1", Shard{0, 1}, false}, {"3/4", Shard{3, 4}, false},
		{"4/4", Shard{}, true}, {"-1/2", Shard{}, true}, {"x/y", Shard{}, true}, {"1", Shard{}, true}, {"0/0", Shard{}, true},
	}
	for _, tc := range tests {
		got, err := ParseShard(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseShard(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func TestStudyPlanSeeds(t *testing.T) {
	plan := tinyStudy(3).Plan()
	if len(plan) != 6 || plan[0].Name() != "normal-0000" || plan[5].Name() != "corrupted-0002" {
		t.Fatalf("plan %+v", plan)
	}
	seen := map[uint64]bool{}
	for _, r := range plan {
		if seen[r.Seed] {
			t.Errorf("seed %d used twice", r.Seed)
		}
		seen[r.Seed] = true
	}
	other := tinyStudy(3)
	other.Seed = 4
	if other.Plan()[0].Seed == plan[0].Seed {
		t.Error("another base seed gave the same run seed")
	}
}

func TestRunStudyResumesAndShards(t *testing.T) {
	d := synthDataset(40, 20, 4, 4, 1, 3, 1)
	dir := t.TempDir()
	// Two shards as concurrent callers sharing the directory.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := tinyStudy(3)
			s.Shard = Shard{Index: i, Count: 2}
			_, errs[i] = RunStudy(context.Background(), d, s, dir, nil)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	res, err := LoadStudy(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Finished) != 6 || len(res.Missing) != 0 {
		t.Fatalf("%d finished, %d missing; want 6 and 0", len(res.Finished), len(res.Missing))
	}
	for _, f := range res.Finished {
		if f.Epochs != 2 || f.Status != StatusOK {
			t.Errorf("%s: %+v", f.Name(), f)
		}
	}
	// An interrupted run leaves a temporary directory; a finished run is never retrained.
	stale := filepath.Join(dir, RunsDir, ".tmp-normal-0001-123")
	os.MkdirAll(stale, 0o755)
	os.RemoveAll(filepath.Join(dir, RunsDir, "normal-0001"))
	before, _ := os.Stat(filepath.Join(dir, RunsDir, "normal-0000", ResultFile))
	again, err := RunStudy(context.Background(), d, tinyStudy(3), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(filepath.Join(dir, RunsDir, "normal-0000", ResultFile))
	if again.Trained != 1 || len(again.Finished) != 6 || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("resume trained %d runs (want 1), finished %d; normal-0000 rewritten: %v", again.Trained, len(again.Finished),
			!after.ModTime().Equal(before.ModTime()))
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("the stale temporary directory was not removed")
	}
	// Corrupted runs differ in their labels: each has its own corruption seed.
	cfgA, _ := os.ReadFile(filepath.Join(dir, RunsDir, "corrupted-0000", ConfigFile))
	cfgB, _ := os.ReadFile(filepath.Join(dir, RunsDir, "corrupted-0001", ConfigFile))
	if string(cfgA) == string(cfgB) || !strings.Contains(string(cfgA), `"corrupted": true`) {
		t.Error("corrupted runs share a configuration")
	}
}

func TestRunStudyRefusesAnotherStudy(t *testing.T) {
	d := synthDataset(40, 20, 4, 4, 1, 3, 1)
	dir := t.TempDir()
	if _, err := RunStudy(context.Background(), d, tinyStudy(1), dir, nil); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, StudyFile))
	other := tinyStudy(1)
	other.Run.Epochs = 5
	if _, err := RunStudy(context.Background(), d, other, dir, nil); !errors.Is(err, ErrStudyMismatch) {
		t.Errorf("another study in the same directory: %v", err)
	}
	resumed := tinyStudy(1)
	resumed.Workers = 2 // workers and shards may change between resumptions
	if _, err := RunStudy(context.Background(), d, resumed, dir, nil); err != nil {
		t.Errorf("resuming with other workers: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, StudyFile))
	if string(before) != string(after) {
		t.Error("study.json changed")
	}
	os.WriteFile(filepath.Join(dir, StudyFile), []byte(`{"format": "esp-study/0"}`), 0o644)
	if _, err := LoadStudy(dir); err == nil || !strings.Contains(err.Error(), "another version") {
		t.Errorf("old format: %v", err)
	}
	for _, bad := range []StudySettings{{Runs: 0}, {Runs: 1, Kinds: []string{"weird"}}, {Runs: 1, Workers: -1}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v validated", bad)
		}
	}
}

func TestNewGoBackendOptions(t *testing.T) {
	tests := []struct {
		name            string
		wantParallelism int // 0: not checked
		wantErr         string
	}{
		{"go", 0, ""},
		{"go:parallelism=1", 1, ""},
		{"go:parallelism=3,ops_sequential", 3, ""},
		{"go:parallelism=x", 0, "parallelism=N"},
		{"go:bogus", 0, "unknown configuration option"},
		{"tpu", 0, "valid: go"},
	}
	for _, tc := range tests {
		b, err := NewBackend(tc.name)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("NewBackend(%q) error %v, want one containing %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("NewBackend(%q): %v", tc.name, err)
			continue
		}
		if got := GoParallelism(b); tc.wantParallelism != 0 && got != tc.wantParallelism {
			t.Errorf("NewBackend(%q) has parallelism %d, want %d", tc.name, got, tc.wantParallelism)
		}
		b.Finalize()
	}
}
