//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package experiment

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/extremepoints/esp/corrupt"
	"github.com/extremepoints/esp/models"
)

// TestRunStudyLeavesLiveRunsAlone: a run's temporary directory that a live process holds
// (its .lock locked: another process on the same directory and shard, or the same
// command started twice) is neither removed nor taken over by a second process, which
// leaves the run to it; before, it removed the directory, or renamed it to resume its
// checkpoint, under the first process, which failed ("no such file or directory") and
// stopped all its workers, and later trained the run again in a directory of its own.
// Once the first process is gone (killed: its locks released), the runs resume.
func TestRunStudyLeavesLiveRunsAlone(t *testing.T) {
	everyEpoch(t)
	d := synthDataset(40, 20, 4, 4, 1, 3, 1)
	// 12 epochs: the interrupting poller has the run's epochs after its first checkpoint
	// to see it, however loaded the machine (with 4, a finished run could come first).
	s := StudySettings{Run: Settings{ModelConfig: models.Config{Hidden: 8}, Epochs: 12, BatchSize: 16}, Runs: 2, Seed: 3,
		Kinds: []string{KindNormal}, Workers: 1}
	// A first process's run with a checkpoint, and one without, both still training.
	dir, cks := interruptedStudy(t, d, s, func(cks []string) bool { return len(cks) > 0 })
	if len(cks) != 1 {
		t.Fatalf("checkpoints %v, want one", cks)
	}
	withCheckpoint := filepath.Dir(cks[0])
	without := filepath.Join(dir, RunsDir, ".tmp-normal-0001-live")
	if filepath.Base(withCheckpoint)[:len(".tmp-normal-0001")] == ".tmp-normal-0001" {
		without = filepath.Join(dir, RunsDir, ".tmp-normal-0000-live")
	}
	if err := os.Mkdir(without, 0o755); err != nil {
		t.Fatal(err)
	}
	var held []*os.File
	for _, live := range []string{withCheckpoint, without} {
		held = append(held, holdLock(t, filepath.Join(live, ".lock")))
	}
	var progress strings.Builder
	res, err := RunStudy(context.Background(), d, s, dir, &progress)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Finished) != 0 || res.Trained != 0 || len(res.Missing) != 2 {
		t.Errorf("finished %d, trained %d, missing %d; want 0, 0 and 2: the live process's", len(res.Finished), res.Trained, len(res.Missing))
	}
	if n := strings.Count(progress.String(), "another process is training it or has finished it: left to that process"); n != 2 {
		t.Errorf("progress %q: want both runs left to the other process", progress.String())
	}
	if _, err := os.Stat(cks[0]); err != nil {
		t.Errorf("the live run's checkpoint: %v", err)
	}
	if _, err := os.Stat(without); err != nil {
		t.Errorf("the live run's directory without a checkpoint: %v", err)
	}
	// The other process killed, its runs resume: the checkpoint taken over, the
	// directory without one removed.
	for _, f := range held {
		f.Close()
	}
	if res, err = RunStudy(context.Background(), d, s, dir, nil); err != nil {
		t.Fatal(err)
	}
	if len(res.Finished) != 2 || res.Trained != 2 {
		t.Errorf("after the other process: finished %d, trained %d; want 2 and 2", len(res.Finished), res.Trained)
	}
	if _, err := os.Stat(without); !os.IsNotExist(err) {
		t.Errorf("the killed process's directory without a checkpoint is left: %v", err)
	}
	for _, r := range []string{"normal-0000", "normal-0001"} {
		if _, err := os.Stat(filepath.Join(dir, RunsDir, r, ".lock")); !os.IsNotExist(err) {
			t.Errorf("%s's .lock: %v, want it removed", r, err)
		}
	}
}

// TestTrainHoldsItsDirectory: Train refuses a directory another process trains in (its
// .lock held), clears what a killed process left there (temporary files, the lock file),
// leaves neither behind, and refuses a finished run's directory.
func TestTrainHoldsItsDirectory(t *testing.T) {
	d := synthDataset(40, 20, 4, 4, 1, 3, 1)
	s := Settings{ModelConfig: models.Config{Hidden: 8}, Epochs: 2, BatchSize: 16}
	out := filepath.Join(t.TempDir(), "run")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	lock := holdLock(t, filepath.Join(out, ".lock"))
	if _, err := Train(context.Background(), nil, corrupt.Clean(d), s, out, nil); !errors.Is(err, ErrRunBusy) {
		t.Fatalf("a directory another process trains in: %v, want %v", err, ErrRunBusy)
	}
	lock.Close() // that process killed: its lock file and a temporary file stay
	if err := os.WriteFile(filepath.Join(out, ".tmp-metrics.jsonl-123"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range listDir(t, out) { // what esp train takes for a directory with no run yet
		if !IsLeftWhileTraining(name) {
			t.Errorf("IsLeftWhileTraining(%q) = false for a file a killed process left", name)
		}
	}
	for _, name := range []string{ConfigFile, MetricsFile, "checkpoint-e000001", "lock"} {
		if IsLeftWhileTraining(name) {
			t.Errorf("IsLeftWhileTraining(%q) = true for a run's own file", name)
		}
	}
	if _, err := Train(context.Background(), nil, corrupt.Clean(d), s, out, nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range listDir(t, out) {
		if strings.HasPrefix(name, ".") {
			t.Errorf("the finished run holds %s", name)
		}
	}
	if _, err := Train(context.Background(), nil, corrupt.Clean(d), s, out, nil); !errors.Is(err, ErrForeignDir) {
		t.Errorf("a finished run's directory: %v, want %v", err, ErrForeignDir)
	}
}

// TestRemoveUnheld: a lock file is removed (after before) unless a live process holds it.
func TestRemoveUnheld(t *testing.T) {
	tests := []struct {
		name              string
		exists, held      bool
		beforeFails       bool
		wantGone, wantRan bool
	}{
		{"missing", false, false, false, true, false},
		{"left by a killed process", true, false, false, true, true},
		{"held by a live process", true, true, false, false, false},
		{"what goes first fails", true, false, true, false, true}, // the file says it is still to do
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), ".lock")
			switch {
			case tc.held:
				holdLock(t, path)
			case tc.exists:
				if err := os.WriteFile(path, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			ran := false
			err := removeUnheld(path, func() error {
				ran = true
				if tc.beforeFails {
					return errors.New("failed")
				}
				return nil
			})
			if (err != nil) != tc.beforeFails {
				t.Fatalf("error %v, want one: %v", err, tc.beforeFails)
			}
			_, err = os.Stat(path)
			if gone := os.IsNotExist(err); gone != tc.wantGone || ran != tc.wantRan {
				t.Errorf("removed: %v, before called: %v; want %v and %v", gone, ran, tc.wantGone, tc.wantRan)
			}
		})
	}
}

// holdLock locks the file at path (made if missing) as another live process would hold
// it, until the test ends or the returned file is closed (that process killed).
func holdLock(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	return f
}
