//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package experiment

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/extremepoints/esp/models"
)

// TestRunStudyLeavesLiveRunsAlone: a run's temporary directory that a live process holds
// (its .lock locked: another process on the same directory and shard, or the same
// command started twice) is neither removed nor taken over by a second process, which
// trains the run in a directory of its own; before, it removed the directory, or renamed
// it to resume its checkpoint, under the first process, which failed ("no such file or
// directory") and stopped all its workers.
func TestRunStudyLeavesLiveRunsAlone(t *testing.T) {
	everyEpoch(t)
	d := synthDataset(40, 20, 4, 4, 1, 3, 1)
	s := StudySettings{Run: Settings{ModelConfig: models.Config{Hidden: 8}, Epochs: 4, BatchSize: 16}, Runs: 2, Seed: 3,
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
	for _, live := range []string{withCheckpoint, without} {
		f, err := os.OpenFile(filepath.Join(live, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			t.Fatal(err)
		}
	}
	res, err := RunStudy(context.Background(), d, s, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Finished) != 2 || res.Trained != 2 {
		t.Errorf("finished %d, trained %d; want 2 and 2", len(res.Finished), res.Trained)
	}
	if _, err := os.Stat(cks[0]); err != nil {
		t.Errorf("the live run's checkpoint: %v", err)
	}
	if _, err := os.Stat(without); err != nil {
		t.Errorf("the live run's directory without a checkpoint: %v", err)
	}
	for _, r := range []string{"normal-0000", "normal-0001"} {
		if _, err := os.Stat(filepath.Join(dir, RunsDir, r, ".lock")); !os.IsNotExist(err) {
			t.Errorf("%s's .lock: %v, want it removed", r, err)
		}
	}
}
