package experiment

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/extremepoints/esp/corrupt"
	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/models"
	"github.com/gomlx/compute"
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
	// A study from a later index has the same runs as the whole one from there.
	tail := tinyStudy(2)
	tail.FirstIndex = 1
	if got, want := tail.Plan(), append(slices.Clone(plan[1:3]), plan[4:6]...); !slices.Equal(got, want) {
		t.Errorf("the plan from index 1 = %+v, want %+v", got, want)
	}
}

// TestRunStudyGrows: a study asked for more runs keeps its finished ones, trains the new
// ones as a study of that size from the start would, and records the growth; it does not
// shrink.
func TestRunStudyGrows(t *testing.T) {
	d := synthDataset(40, 20, 4, 4, 1, 3, 1)
	dir, fresh := t.TempDir(), t.TempDir()
	if _, err := RunStudy(context.Background(), d, tinyStudy(1), dir, nil); err != nil {
		t.Fatal(err)
	}
	first, _ := os.Stat(filepath.Join(dir, RunsDir, "normal-0000", ResultFile))
	grown, err := RunStudy(context.Background(), d, tinyStudy(2), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if grown.Trained != 2 || len(grown.Finished) != 4 || grown.Settings.Runs != 2 {
		t.Errorf("grown study: trained %d, finished %d, %d runs; want 2, 4, 2", grown.Trained, len(grown.Finished), grown.Settings.Runs)
	}
	if again, _ := os.Stat(filepath.Join(dir, RunsDir, "normal-0000", ResultFile)); !again.ModTime().Equal(first.ModTime()) {
		t.Error("growing the study retrained normal-0000")
	}
	if _, err := RunStudy(context.Background(), d, tinyStudy(2), fresh, nil); err != nil {
		t.Fatal(err)
	}
	for _, run := range []string{"normal-0001", "corrupted-0001"} {
		a, _ := os.ReadFile(filepath.Join(dir, RunsDir, run, FinalWeightsFile))
		b, _ := os.ReadFile(filepath.Join(fresh, RunsDir, run, FinalWeightsFile))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s of the grown study differs from the same run of a 2-run study", run)
		}
	}
	sf, err := readStudyFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(sf.Grown) != 1 || sf.Grown[0].From != 1 || sf.Grown[0].To != 2 || sf.Settings.Runs != 2 {
		t.Errorf("study.json: runs %d, grown %+v; want 2 and one growth from 1 to 2", sf.Settings.Runs, sf.Grown)
	}
	before, _ := os.ReadFile(filepath.Join(dir, StudyFile))
	if _, err := RunStudy(context.Background(), d, tinyStudy(1), dir, nil); !errors.Is(err, ErrStudyMismatch) || !strings.Contains(err.Error(), "does not shrink") {
		t.Errorf("a smaller study in the directory: %v", err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, StudyFile)); !bytes.Equal(before, after) {
		t.Error("a refused command changed study.json")
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
	// So is what a process killed after putting its run in place left behind: its claim,
	// the run's checkpoint and lock file.
	staleClaim := filepath.Join(dir, RunsDir, ".claim-normal-0000")
	staleCheckpoint := filepath.Join(dir, RunsDir, "normal-0000", checkpointPrefix+"e000001")
	staleLock := filepath.Join(dir, RunsDir, "normal-0000", runLockFile)
	if err := errors.Join(os.WriteFile(staleClaim, nil, 0o644), os.Mkdir(staleCheckpoint, 0o755), os.WriteFile(staleLock, nil, 0o644)); err != nil {
		t.Fatal(err)
	}
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
	for _, left := range []string{staleClaim, staleCheckpoint, staleLock} {
		if _, err := os.Stat(left); !os.IsNotExist(err) {
			t.Errorf("%s, left by a killed process, was not removed", left)
		}
	}
	// Corrupted runs differ in their labels: each has its own corruption seed.
	cfgA, _ := os.ReadFile(filepath.Join(dir, RunsDir, "corrupted-0000", ConfigFile))
	cfgB, _ := os.ReadFile(filepath.Join(dir, RunsDir, "corrupted-0001", ConfigFile))
	if string(cfgA) == string(cfgB) || !strings.Contains(string(cfgA), `"corrupted": true`) {
		t.Error("corrupted runs share a configuration")
	}
}

// TestRunStudyHashesEachRunOnce: a shard's finished runs are checked against their
// recorded SHA-256 when it starts and taken as checked at its end; the other shards' runs
// are checked when the study is read at the end, and the runs it trains are hashed when
// they finish.
func TestRunStudyHashesEachRunOnce(t *testing.T) {
	d := synthDataset(40, 20, 4, 4, 1, 3, 1)
	dir := t.TempDir()
	shard := func(i int) StudySettings {
		s := tinyStudy(2) // normal-0000, normal-0001, corrupted-0000, corrupted-0001
		s.Shard = Shard{Index: i, Count: 2}
		return s
	}
	for i := range 2 {
		if _, err := RunStudy(context.Background(), d, shard(i), dir, nil); err != nil {
			t.Fatal(err)
		}
	}
	os.RemoveAll(filepath.Join(dir, RunsDir, "corrupted-0000")) // shard 0's

	var hashed []string
	defer func(f func(string) (string, error)) { fileSHA256 = f }(fileSHA256)
	fileSHA256 = func(path string) (string, error) {
		hashed = append(hashed, filepath.Base(filepath.Dir(path)))
		return datasets.FileSHA256(path)
	}
	res, err := RunStudy(context.Background(), d, shard(0), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Trained != 1 || len(res.Finished) != 4 {
		t.Fatalf("trained %d, finished %d; want 1 and 4", res.Trained, len(res.Finished))
	}
	// normal-0000 at the start, corrupted-0000 in its temporary folder, shard 1's two at
	// the end.
	if len(hashed) != 4 || hashed[0] != "normal-0000" || !strings.HasPrefix(hashed[1], ".tmp-corrupted-0000-") ||
		hashed[2] != "normal-0001" || hashed[3] != "corrupted-0001" {
		t.Errorf("hashed the final weights of %v", hashed)
	}
}

// TestRunStudyTwiceAtOnce: two callers of one study without shards, started together (a
// job's copies started at once), share its runs: each run is trained once, by one of them,
// and neither trains a run the other holds (claimRun). Without the claims both looked for
// the other's temporary directory first, found none, and trained the same runs in step.
func TestRunStudyTwiceAtOnce(t *testing.T) {
	d := synthDataset(40, 20, 4, 4, 1, 3, 1)
	s := tinyStudy(4)
	s.Kinds, s.Workers = []string{KindNormal}, 1
	s.Run.Epochs = 20
	dir := t.TempDir()
	// The two callers' first groups wait for each other (or 2 s) once taken: both have
	// then looked for the other's work before either trains.
	arrived := make(chan struct{}, 2)
	var firsts sync.WaitGroup
	firsts.Add(2)
	var calls atomic.Int32
	defer func(f func([]StudyRun)) { afterClaims = f }(afterClaims)
	afterClaims = func([]StudyRun) {
		if calls.Add(1) > 2 {
			return
		}
		arrived <- struct{}{}
		firsts.Done()
		done := make(chan struct{})
		go func() { firsts.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
		}
	}
	var wg sync.WaitGroup
	logs := make([]strings.Builder, 2)
	results := make([]*StudyResult, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = RunStudy(context.Background(), d, s, dir, &logs[i])
		}()
	}
	wg.Wait()
	trained := 0
	for i := range 2 {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		trained += results[i].Trained
		if strings.Contains(logs[i].String(), "another process finished it first") {
			t.Errorf("caller %d trained a run the other also trained:\n%s", i, logs[i].String())
		}
	}
	res, err := LoadStudy(dir)
	if err != nil {
		t.Fatal(err)
	}
	if trained != 4 || len(res.Finished) != 4 {
		t.Errorf("trained %d between them, %d finished; want 4 and 4", trained, len(res.Finished))
	}
	for _, name := range listDir(t, filepath.Join(dir, RunsDir)) {
		if strings.HasPrefix(name, ".") {
			t.Errorf("runs/ holds %s", name)
		}
	}
}

// TestRunStudyFinishedNeedsNoBackend: resuming a finished study makes no backend, so that
// it reads back on a machine without the one it was trained on (xla:cuda on a laptop).
func TestRunStudyFinishedNeedsNoBackend(t *testing.T) {
	d := synthDataset(40, 20, 4, 4, 1, 3, 1)
	dir := t.TempDir()
	if _, err := RunStudy(context.Background(), d, tinyStudy(1), dir, nil); err != nil {
		t.Fatal(err)
	}
	defer func(f func(string) (compute.Backend, error)) { newStudyBackend = f }(newStudyBackend)
	made := 0
	newStudyBackend = func(name string) (compute.Backend, error) {
		made++
		return nil, fmt.Errorf("no backend %s on this machine", name)
	}
	var progress strings.Builder
	res, err := RunStudy(context.Background(), d, tinyStudy(1), dir, &progress)
	if err != nil {
		t.Fatal(err)
	}
	if made != 0 || res.Trained != 0 || len(res.Finished) != 2 {
		t.Errorf("made %d backends, trained %d, finished %d; want 0, 0, 2", made, res.Trained, len(res.Finished))
	}
	if want := "0 of 2 runs to train\n"; !strings.HasSuffix(progress.String(), want) {
		t.Errorf("progress %q, want it to end in %q", progress.String(), want)
	}
	// With a run to train, the backend is asked for and its error returned.
	os.RemoveAll(filepath.Join(dir, RunsDir, "normal-0000"))
	if _, err := RunStudy(context.Background(), d, tinyStudy(1), dir, nil); err == nil || made != 1 {
		t.Errorf("made %d backends, err %v; want 1 and the backend's error", made, err)
	}
}

// TestRunStudyRefusesBadDatasets: a nil or inconsistent dataset is an error, not a panic,
// and makes no study folder.
func TestRunStudyRefusesBadDatasets(t *testing.T) {
	good := synthDataset(40, 20, 4, 4, 1, 3, 1)
	noTest := *good
	noTest.Test = nil
	badLabel := *good
	badLabel.Classes = good.Classes[:2]
	tests := []struct {
		name string
		ds   *datasets.Dataset
		want string
	}{
		{"nil", nil, "needs a dataset"},
		{"no test split", &noTest, "empty test split"},
		{"label out of range", &badLabel, "not below the 2 classes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "study")
			_, err := RunStudy(context.Background(), tc.ds, tinyStudy(1), dir, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want one saying %q", err, tc.want)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("the study folder was made: %v", err)
			}
		})
	}
}

// TestRunStudyKeepsAnotherProcesssRun: a run another process working on the same runs put
// in place before this one started it is kept as that process left it, left to it (not
// trained again), reported so, and not counted as trained.
func TestRunStudyKeepsAnotherProcesssRun(t *testing.T) {
	d := synthDataset(40, 20, 4, 4, 1, 3, 1)
	s := tinyStudy(2)
	s.Kinds, s.Workers = []string{KindNormal}, 1
	other, err := RunStudy(context.Background(), d, s, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var log bytes.Buffer
	finishedFirst := func() { // once this process has planned its runs, before it trains them
		if err := os.CopyFS(filepath.Join(dir, RunsDir, "normal-0000"), os.DirFS(filepath.Join(other.Dir, RunsDir, "normal-0000"))); err != nil {
			t.Error(err)
		}
	}
	res, err := RunStudy(context.Background(), d, s, dir, io.MultiWriter(&log, slowEpochs{prefix: "study ", at: finishedFirst}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Trained != 1 || len(res.Finished) != 2 {
		t.Errorf("trained %d, finished %d; want 1 and 2", res.Trained, len(res.Finished))
	}
	if !regexp.MustCompile(`(?m)^normal-0000: another process is training it or has finished it: left to that process$`).MatchString(log.String()) ||
		strings.Count(log.String(), "another process") != 1 {
		t.Errorf("progress %q: want normal-0000, only, reported as finished by another process", log.String())
	}
	kept, _ := os.ReadFile(filepath.Join(dir, RunsDir, "normal-0000", ResultFile))
	theirs, _ := os.ReadFile(filepath.Join(other.Dir, RunsDir, "normal-0000", ResultFile))
	if len(kept) == 0 || !bytes.Equal(kept, theirs) {
		t.Errorf("normal-0000's result.json is not the other process's:\n%s\n%s", kept, theirs)
	}
	if left := listDir(t, filepath.Join(dir, RunsDir)); !slices.Equal(left, []string{"normal-0000", "normal-0001"}) {
		t.Errorf("runs/ holds %v", left)
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
	for _, bad := range []StudySettings{{Runs: 0}, {Runs: 1, Kinds: []string{"weird"}}, {Runs: 1, Workers: -1},
		{Runs: 1, Kinds: []string{KindNormal, KindNormal}}, {Runs: 1, Shard: Shard{Index: 2, Count: 2}},
		{Runs: 1, FirstIndex: -1}, {Runs: 2, FirstIndex: MaxStudyRuns - 1}, {Runs: 2, FirstIndex: math.MaxInt}} {
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
		{"go:parallelism=-5", 0, "0 (no parallelism) or -1 (unlimited)"},
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

// BenchmarkStudyWorkers compares a study of 4 MLP runs (1 epoch, MNIST's first 10k
// examples per split, normal runs) trained one at a time on all cores against two at a
// time with one core each. It needs MNIST in the cache (esp data fetch mnist); run with
// -benchtime=1x -count=3 so the two alternate on a shared machine.
func BenchmarkStudyWorkers(b *testing.B) {
	ds, err := datasets.Load(context.Background(), "mnist", datasets.Options{URLs: []string{}, NoFallbacks: true})
	if err != nil {
		b.Skipf("MNIST not cached: %v", err)
	}
	ds = ds.Head(10000)
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			for b.Loop() {
				s := StudySettings{Run: Settings{Epochs: 1}, Runs: 4, Kinds: []string{KindNormal}, Workers: workers}
				if _, err := RunStudy(context.Background(), ds, s, b.TempDir(), nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N)/4, "s/run")
		})
	}
}

// A study of 2 normal and 2 corrupted runs of a tiny MLP on synthetic data; the same call
// again resumes it and trains nothing.
func ExampleRunStudy() {
	ds := synthDataset(40, 20, 4, 4, 1, 3, 1)
	dir, _ := os.MkdirTemp("", "study")
	defer os.RemoveAll(dir)
	s := StudySettings{Run: Settings{ModelConfig: models.Config{Hidden: 8}, Epochs: 2, BatchSize: 16}, Runs: 2, Seed: 1}
	for range 2 {
		res, err := RunStudy(context.Background(), ds, s, dir, nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%d finished, %d missing, %d trained now\n", len(res.Finished), len(res.Missing), res.Trained)
	}
	res, _ := LoadStudy(dir)
	for _, r := range res.Finished {
		fmt.Println(r.Name(), r.Status, r.Epochs)
	}
	// Output:
	// 4 finished, 0 missing, 4 trained now
	// 4 finished, 0 missing, 0 trained now
	// normal-0000 ok 2
	// normal-0001 ok 2
	// corrupted-0000 ok 2
	// corrupted-0001 ok 2
}

// TestRunStudyCancel cancels a study mid-run: RunStudy returns promptly with ctx's error,
// and the interrupted runs leave only temporary directories, never a run directory.
func TestRunStudyCancel(t *testing.T) {
	d := synthDataset(40, 20, 4, 4, 1, 3, 1)
	dir := t.TempDir()
	s := tinyStudy(2)
	s.Run.Epochs = 100000 // far longer than the test waits
	s.Workers = 2
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := RunStudy(ctx, d, s, dir, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("RunStudy after the deadline: %v", err)
	}
	// A training step of this model takes about a millisecond; 5s is slack for a busy machine.
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("RunStudy took %s to stop", waited)
	}
	if res == nil || len(res.Finished) != 0 || len(res.Missing) != 4 {
		t.Errorf("result after cancel: %+v", res)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, RunsDir))
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("runs/%s exists after a cancelled study", e.Name())
		}
	}
}

func TestStudyMismatchNamesTheDifference(t *testing.T) {
	d := synthDataset(40, 20, 4, 4, 1, 3, 1)
	dir := t.TempDir()
	if _, err := RunStudy(context.Background(), d, tinyStudy(1), dir, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		change func(*StudySettings)
		want   string
	}{
		{func(s *StudySettings) { s.Run.Epochs = 3 }, "run.epochs: 2 recorded, 3 now"},
		{func(s *StudySettings) { s.Seed = 9 }, "seed: 3 recorded, 9 now"},
		{func(s *StudySettings) { s.Kinds = []string{KindNormal} }, `kinds: ["normal","corrupted"] recorded, ["normal"] now`},
		{func(s *StudySettings) { s.Run.WeightDecay = 0.01 }, "run.weight_decay: unset recorded, 0.01 now"},
		{func(s *StudySettings) { s.Corruption.Strategy = "shift:1" }, `corruption.strategy: "wrong-uniform" recorded, "shift:1" now`},
	}
	for _, tc := range tests {
		s := tinyStudy(1)
		tc.change(&s)
		_, err := RunStudy(context.Background(), d, s, dir, nil)
		if !errors.Is(err, ErrStudyMismatch) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want it to say %q", err, tc.want)
		}
	}
	// The same study spelled with its defaults is the same study.
	s := tinyStudy(1)
	s.Kinds = []string{KindNormal, KindCorrupted}
	s.Run.Model = "mlp"
	s.Corruption = corrupt.Settings{Strategy: corrupt.WrongUniform, Fraction: 1, Copies: corrupt.CopiesPaper}
	if _, err := RunStudy(context.Background(), d, s, dir, nil); err != nil {
		t.Errorf("the same study with explicit defaults: %v", err)
	}
}

// TestRunStudyEnsemble trains a study in ensembles and the same study run by run: the
// runs' results must agree, and a study begun one way resumes the other way.
func TestRunStudyEnsemble(t *testing.T) {
	d := synthDataset(40, 20, 4, 4, 1, 3, 1)
	alone, ensembled := t.TempDir(), t.TempDir()
	if _, err := RunStudy(context.Background(), d, tinyStudy(3), alone, nil); err != nil {
		t.Fatal(err)
	}
	s := tinyStudy(3)
	s.Ensemble, s.Workers = 2, 1
	var log strings.Builder
	res, err := RunStudy(context.Background(), d, s, ensembled, &log)
	if err != nil {
		t.Fatal(err)
	}
	if res.Trained != 6 || len(res.Finished) != 6 || !strings.Contains(log.String(), "ensembles of up to 2 runs") {
		t.Fatalf("trained %d, finished %d; log:\n%s", res.Trained, len(res.Finished), log.String())
	}
	want, err := LoadStudy(alone)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range res.Finished {
		w := want.Finished[i]
		if f.Name() != w.Name() || f.Steps != w.Steps || math.Abs(float64(f.Final.TrainLoss-w.Final.TrainLoss)) > 1e-4 ||
			math.Abs(float64(f.Final.DistFromInit-w.Final.DistFromInit)) > 1e-4*float64(w.Final.DistFromInit) {
			t.Errorf("%s in an ensemble: %+v; alone: %+v", f.Name(), f.Final, w.Final)
		}
	}
	// Groups hold runs of one kind: the last corrupted run of three is trained alone.
	paired, _ := os.ReadFile(filepath.Join(ensembled, RunsDir, "corrupted-0000", ConfigFile))
	single, _ := os.ReadFile(filepath.Join(ensembled, RunsDir, "corrupted-0002", ConfigFile))
	if !strings.Contains(string(paired), `"ensemble": 2`) || strings.Contains(string(single), `"ensemble"`) {
		t.Errorf("config.json of corrupted-0000:\n%s\nof corrupted-0002:\n%s", paired, single)
	}
	// Resuming with another ensemble size is the same study.
	os.RemoveAll(filepath.Join(ensembled, RunsDir, "normal-0001"))
	again, err := RunStudy(context.Background(), d, tinyStudy(3), ensembled, nil)
	if err != nil || again.Trained != 1 {
		t.Errorf("resumed run by run: trained %d, err %v; want 1 run", again.Trained, err)
	}
}

func TestStudyGroups(t *testing.T) {
	runs := tinyStudy(3).Plan() // normal 0-2, corrupted 0-2
	tests := []struct {
		ensemble int
		resumed  map[string]string // runs with a checkpoint: its name after "checkpoint-e"
		want     []string
	}{
		{0, nil, []string{"normal-0000", "normal-0001", "normal-0002", "corrupted-0000", "corrupted-0001", "corrupted-0002"}},
		{2, nil, []string{"normal-0000..0001", "normal-0002", "corrupted-0000..0001", "corrupted-0002"}},
		{4, nil, []string{"normal-0000..0002", "corrupted-0000..0002"}},
		{4, map[string]string{"normal-0001": "000003", "corrupted-0000": "000003"}, []string{"normal-0000", "normal-0001", "normal-0002", "corrupted-0000", "corrupted-0001..0002"}},
		// An interrupted ensemble resumes as one; runs at other epochs apart.
		{4, map[string]string{"normal-0000": "000003", "normal-0001": "000003", "normal-0002": "000002", "corrupted-0000": "000003", "corrupted-0001": "000003"},
			[]string{"normal-0000..0001", "normal-0002", "corrupted-0000..0001", "corrupted-0002"}},
		{0, map[string]string{"normal-0000": "000003", "normal-0001": "000003"}, []string{"normal-0000", "normal-0001", "normal-0002", "corrupted-0000", "corrupted-0001", "corrupted-0002"}},
		// A member that diverged (its checkpoint is its end) stays in its ensemble, wherever
		// the others start from.
		{4, map[string]string{"normal-0000": "000003", "normal-0001": "000002-diverged", "normal-0002": "000003", "corrupted-0000": "000001-diverged"},
			[]string{"normal-0000..0002", "corrupted-0000..0002"}},
		{4, map[string]string{"normal-0000": "000001-diverged", "normal-0001": "000003", "normal-0002": "000002"},
			[]string{"normal-0000..0001", "normal-0002", "corrupted-0000..0002"}},
		{2, map[string]string{"normal-0000": "000001-diverged", "normal-0001": "000001-diverged", "normal-0002": "000004-diverged"},
			[]string{"normal-0000..0001", "normal-0002", "corrupted-0000..0001", "corrupted-0002"}},
	}
	for _, tc := range tests {
		s := tinyStudy(3)
		s.Ensemble = tc.ensemble
		resumeFrom := map[string]string{}
		for name, ck := range tc.resumed {
			resumeFrom[name] = fmt.Sprintf("runs/.tmp-%s-1/%s%s", name, checkpointPrefix, ck)
		}
		var got []string
		for _, g := range s.groups(runs, resumeFrom) {
			got = append(got, groupName(g))
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("ensemble %d, checkpoints %v: groups %v, want %v", tc.ensemble, tc.resumed, got, tc.want)
		}

		// A group's runs, their checkpoints in their folders, train as one part.
		for _, g := range s.groups(runs, resumeFrom) {
			tmps := make([]string, len(g))
			pending := make([]int, len(g))
			for i, r := range g {
				tmps[i], pending[i] = t.TempDir(), i
				if ck := resumeFrom[r.Name()]; ck != "" {
					if err := os.Mkdir(filepath.Join(tmps[i], filepath.Base(ck)), 0o755); err != nil {
						t.Fatal(err)
					}
				}
			}
			if part, rest := sameStart(pending, tmps); len(part) != len(g) || len(rest) != 0 {
				t.Errorf("group %s split into %v and %v", groupName(g), part, rest)
			}
		}
	}
	if err := (StudySettings{Runs: 1, Ensemble: -1}).Validate(); err == nil || !strings.Contains(err.Error(), "ensemble") {
		t.Errorf("negative ensemble: error %v", err)
	}
}

// TestRunStudyDamaged: a finished run whose files were changed since, or a study.json that
// is not one, stops a resumption before any training, saying which file and what to do.
func TestRunStudyDamaged(t *testing.T) {
	d := synthDataset(40, 20, 4, 4, 1, 3, 1)
	tests := []struct {
		name   string
		damage func(dir, run string) error
		is     error
		want   string
	}{
		{"weights removed", func(dir, run string) error { return os.Remove(filepath.Join(run, FinalWeightsFile)) },
			ErrDamagedRun, "has a result but no final.safetensors: delete"},
		{"result.json removed", func(dir, run string) error { return os.Remove(filepath.Join(run, ResultFile)) },
			ErrDamagedRun, "has no result.json: delete"},
		{"config.json removed", func(dir, run string) error { return os.Remove(filepath.Join(run, ConfigFile)) },
			ErrDamagedRun, "has a result but no config.json: delete"},
		{"result.json garbled", func(dir, run string) error {
			return os.WriteFile(filepath.Join(run, ResultFile), []byte("{bad"), 0o644)
		},
			ErrDamagedRun, "is not a run result"},
		{"a byte of the weights flipped", func(dir, run string) error {
			path := filepath.Join(run, FinalWeightsFile)
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			data[len(data)-1] ^= 1
			return os.WriteFile(path, data, 0o644)
		}, ErrDamagedRun, "final.safetensors changed after the run finished"},
		{"metrics.jsonl cut at a line's end", func(dir, run string) error {
			path := filepath.Join(run, MetricsFile)
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(path, data[:bytes.IndexByte(data, '\n')+1], 0o644)
		}, ErrDamagedRun, "metrics.jsonl has 1 lines, result.json records 2 epochs (ok): want 3"},
		{"metrics.jsonl cut in a line", func(dir, run string) error {
			path := filepath.Join(run, MetricsFile)
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(path, data[:len(data)-10], 0o644)
		}, ErrDamagedRun, "metrics.jsonl line 3 is not a metrics line"},
		{"metrics.jsonl lines swapped", func(dir, run string) error {
			path := filepath.Join(run, MetricsFile)
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			lines := strings.SplitAfter(string(data), "\n") // epochs 0, 1, 2 and ""
			return os.WriteFile(path, []byte(lines[1]+lines[0]+lines[2]), 0o644)
		}, ErrDamagedRun, "metrics.jsonl line 1 is epoch 1, want 0"},
		{"metrics.jsonl of another run", func(dir, run string) error {
			data, err := os.ReadFile(filepath.Join(dir, RunsDir, "corrupted-0000", MetricsFile))
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(run, MetricsFile), data, 0o644)
		}, ErrDamagedRun, "metrics.jsonl ends with other metrics than result.json records"},
		{"study.json garbled", func(dir, run string) error { return os.WriteFile(filepath.Join(dir, StudyFile), nil, 0o644) },
			ErrStudyMismatch, "is not a study file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := RunStudy(context.Background(), d, tinyStudy(1), dir, nil); err != nil {
				t.Fatal(err)
			}
			run := filepath.Join(dir, RunsDir, "normal-0000")
			if err := tc.damage(dir, run); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(filepath.Join(run, MetricsFile))
			_, err := RunStudy(context.Background(), d, tinyStudy(1), dir, nil)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %v saying %q", err, tc.is, tc.want)
			}
			if after, _ := os.ReadFile(filepath.Join(run, MetricsFile)); string(after) != string(before) {
				t.Error("the damaged study's run was trained again")
			}
		})
	}
}

// TestCheckStudyDir: a study directory is new, a study's, or one a shard is starting;
// runs without a study.json (it was deleted) or another kind of directory are refused.
func TestCheckStudyDir(t *testing.T) {
	mk := func(t *testing.T, files ...string) string {
		dir := t.TempDir()
		for _, f := range files {
			path := filepath.Join(dir, f)
			if strings.HasSuffix(f, "/") {
				os.MkdirAll(path, 0o755)
				continue
			}
			os.MkdirAll(filepath.Dir(path), 0o755)
			os.WriteFile(path, []byte("x"), 0o644)
		}
		return dir
	}
	tests := []struct {
		name    string
		files   []string
		wantErr string
	}{
		{"empty", nil, ""},
		{"a shard starting", []string{"runs/", ".tmp-study-1.json", "runs/.tmp-normal-0000-1/"}, ""},
		{"another's claim, read as it wrote study.json", []string{"runs/.claim-normal-0000"}, ""},
		{"a study", []string{StudyFile, "runs/normal-0000/result.json"}, ""},
		{"runs without study.json", []string{"runs/normal-0000/result.json"}, "holds runs (normal-0000) but no study.json"},
		{"a run directory", []string{ConfigFile, MetricsFile}, "but no study.json"},
		{"a file named runs", []string{RunsDir}, "holds runs but no study.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckStudyDir(mk(t, tc.files...))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrForeignDir) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %v, want %v saying %q", err, ErrForeignDir, tc.wantErr)
			}
		})
	}
	if err := CheckStudyDir(filepath.Join(t.TempDir(), "missing")); err != nil {
		t.Errorf("a missing directory: %v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	if err := CheckStudyDir(file); !errors.Is(err, ErrForeignDir) {
		t.Errorf("a file: %v", err)
	}
	// RunStudy refuses the same, writing nothing.
	d := synthDataset(40, 20, 4, 4, 1, 3, 1)
	dir := mk(t, "runs/normal-0000/result.json")
	if _, err := RunStudy(context.Background(), d, tinyStudy(1), dir, nil); !errors.Is(err, ErrForeignDir) {
		t.Errorf("RunStudy on runs without study.json: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, StudyFile)); !os.IsNotExist(err) {
		t.Errorf("RunStudy wrote %s (%v)", StudyFile, err)
	}
}

// TestRunStudyFileModes: a study's files and run directories are readable by all, as the
// rest of a results directory shared between users and machines is (0644 files, 0755
// folders), whatever MkdirTemp and CreateTemp make.
func TestRunStudyFileModes(t *testing.T) {
	d := synthDataset(40, 20, 4, 4, 1, 3, 1)
	s := tinyStudy(1)
	s.Workers = 1
	dir := t.TempDir()
	if _, err := RunStudy(context.Background(), d, s, dir, nil); err != nil {
		t.Fatal(err)
	}
	want := map[string]os.FileMode{StudyFile: 0o644}
	for _, name := range []string{"normal-0000", "corrupted-0000"} {
		want[filepath.Join(RunsDir, name)] = os.ModeDir | 0o755
		for _, f := range []string{ConfigFile, MetricsFile, InitWeightsFile, FinalWeightsFile, ResultFile} {
			want[filepath.Join(RunsDir, name, f)] = 0o644
		}
	}
	for path, mode := range want {
		st, err := os.Stat(filepath.Join(dir, path))
		if err != nil {
			t.Error(err)
		} else if st.Mode() != mode {
			t.Errorf("%s has mode %v, want %v", path, st.Mode(), mode)
		}
	}
}
