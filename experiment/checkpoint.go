package experiment

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	gmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/checkpoint"
)

// A run trained into a directory leaves after its epochs (all but the last; see
// checkpointCost) a checkpoint there: every variable of its store (the model's, the
// optimizer's moments and step count, the random state; for an ensemble's member, a copy
// of its own under the paths a run alone has) in GoMLX's checkpoint format, and the run's
// progress. Train given that directory again, with the same settings, resumes from it;
// the finished run has no checkpoint left.
const (
	// checkpointPrefix starts the name of a checkpoint's folder: checkpoint-e000012 holds
	// the state after epoch 12, checkpoint-e000012-diverged the end of a run that
	// diverged in epoch 12 (see checkpointState.Status). A folder of that name is
	// complete: it is written under a temporary name and renamed.
	checkpointPrefix = "checkpoint-e"
	// checkpointStateFile is the progress saved with the variables.
	checkpointStateFile = "state.json"
)

// checkpointState is a checkpoint's state.json: how far the run had come.
type checkpointState struct {
	Epoch int `json:"epoch"` // epochs completed
	Steps int `json:"steps"`
	// Metrics are the run's metrics lines up to Epoch, as metrics.jsonl held them (and,
	// for a run that diverged, the line of the epoch it diverged in).
	Metrics []EpochMetrics `json:"metrics"`
	// Status is StatusDiverged for the end of an ensemble member that diverged, saved
	// when it did so that a resumed ensemble has it as it was (its weights then are its
	// final ones); empty for a run that goes on.
	Status string `json:"status,omitempty"`
	// Variables lists the variables saved, with the SHA-256 of each one's value: what a
	// restore must give back, every one, byte for byte.
	Variables map[string]string `json:"variables"`
}

// ErrBadCheckpoint is returned for a run directory whose checkpoint cannot be resumed: it
// is damaged, or it holds another run's state.
var ErrBadCheckpoint = errors.New("cannot resume the run")

// checkpointCost bounds the time a run spends on checkpoints: one is saved after an epoch
// when the epochs since the last one took checkpointCost times as long as saving it did
// (after every epoch of a real dataset; every few of a tiny one).
// (A variable: tests save after every epoch.)
var checkpointCost time.Duration = 20

// checkpointer decides when a run saves its checkpoints and saves them.
type checkpointer struct {
	last     time.Time     // when the last checkpoint was saved, or the epochs started
	duration time.Duration // how long saving it took
}

// due reports whether the run should save a checkpoint now.
func (c *checkpointer) due() bool {
	return time.Since(c.last) >= checkpointCost*c.duration
}

// save saves a checkpoint by calling write (saveCheckpoint, once per run it saves) and
// times it.
func (c *checkpointer) save(write func() error) error {
	start := time.Now()
	if err := write(); err != nil {
		return err
	}
	c.last = time.Now()
	c.duration = c.last.Sub(start)
	return nil
}

// saveCheckpoint writes the variables of store and the run's progress st into a new
// checkpoint of runDir, then removes the older ones.
func saveCheckpoint(store *gmodel.Store, runDir string, st checkpointState) error {
	tmp, err := writeCheckpoint(store, runDir, st)
	if err != nil {
		return err
	}
	return commitCheckpoint(runDir, tmp, st)
}

// writeCheckpoint is writeCheckpointFolder; tests make it fail.
var writeCheckpoint = writeCheckpointFolder

// writeCheckpointFolder writes the variables of store and the run's progress st into a
// new temporary folder of runDir, on disk when it returns, and returns it:
// commitCheckpoint makes it the run's checkpoint. On error nothing is left.
func writeCheckpointFolder(store *gmodel.Store, runDir string, st checkpointState) (tmp string, err error) {
	if tmp, err = os.MkdirTemp(runDir, ".tmp-"+checkpointPrefix); err != nil {
		return "", fmt.Errorf("experiment: checkpoint: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	// A handler built on an empty folder loads nothing. It installs itself as the store's
	// loader of variables yet to be created; there will be none, so the old one goes back.
	loader := store.Loader()
	h, err := checkpoint.Build(store).Dir(tmp).WithCompression(checkpoint.BinUncompressed).Done()
	store.SetLoader(loader)
	if err == nil {
		err = h.Save()
	}
	if err != nil {
		return "", fmt.Errorf("experiment: saving a checkpoint in %s: %w", runDir, err)
	}
	if st.Variables, err = variableDigests(store); err != nil {
		return "", err
	}
	data, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	if err := writeFileAtomic(filepath.Join(tmp, checkpointStateFile), data); err != nil {
		return "", err
	}
	// On disk before the rename, since the older checkpoint goes right after it.
	if err := syncFolder(tmp); err != nil {
		return "", fmt.Errorf("experiment: checkpoint: %w", err)
	}
	return tmp, nil
}

// commitCheckpoint renames tmp (writeCheckpoint's, of st) to its name in runDir
// (checkpointName) and removes the older checkpoints.
func commitCheckpoint(runDir, tmp string, st checkpointState) error {
	name := checkpointName(st)
	if err := os.Rename(tmp, filepath.Join(runDir, name)); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("experiment: checkpoint: %w", err)
	}
	return removeCheckpoints(runDir, name)
}

// checkpointName is the name of the folder of the checkpoint of st.
func checkpointName(st checkpointState) string {
	if st.Status == StatusDiverged { // of the epoch it diverged in, which it never completed
		return fmt.Sprintf("%s%06d%s", checkpointPrefix, st.Epoch+1, divergedSuffix)
	}
	return fmt.Sprintf("%s%06d", checkpointPrefix, st.Epoch)
}

// divergedSuffix ends the name of a diverged run's checkpoint.
const divergedSuffix = "-" + StatusDiverged

// isDivergedCheckpoint reports whether the checkpoint folder ck holds the end of a run
// that diverged (by its name; restoring it checks its state).
func isDivergedCheckpoint(ck string) bool { return strings.HasSuffix(ck, divergedSuffix) }

// variableDigests returns the SHA-256 of the value of every variable of store, by path.
func variableDigests(store *gmodel.Store) (map[string]string, error) {
	digests := map[string]string{}
	for v := range store.IterVariables() {
		value, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("experiment: reading %s: %w", v.Path(), err)
		}
		h := sha256.New()
		if err := value.ConstBytes(func(data []byte) { h.Write(data) }); err != nil {
			return nil, fmt.Errorf("experiment: reading %s: %w", v.Path(), err)
		}
		digests[v.Path()] = value.Shape().String() + ":" + hex.EncodeToString(h.Sum(nil))
	}
	return digests, nil
}

// syncFolder flushes the files of dir, and dir itself, to disk.
func syncFolder(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range append(entries, nil) {
		path := dir
		if e != nil {
			path = filepath.Join(dir, e.Name())
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// removeCheckpoints removes runDir's checkpoints, but keep, and the temporary folders of
// checkpoints an interrupted save left.
func removeCheckpoints(runDir, keep string) error {
	entries, err := os.ReadDir(runDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if name != keep && (strings.HasPrefix(name, checkpointPrefix) || strings.HasPrefix(name, ".tmp-"+checkpointPrefix)) {
			if err := os.RemoveAll(filepath.Join(runDir, name)); err != nil {
				return fmt.Errorf("experiment: removing an old checkpoint: %w", err)
			}
		}
	}
	return nil
}

// latestCheckpoint returns the folder of runDir's latest checkpoint, "" if there is none.
func latestCheckpoint(runDir string) (string, error) {
	entries, err := os.ReadDir(runDir)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), checkpointPrefix) {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return "", nil
	}
	return filepath.Join(runDir, slices.Max(names)), nil // zero-padded epochs sort as numbers
}

// CheckpointEpoch returns the number of epochs the latest checkpoint of runDir holds; ok
// is false if it has none.
func CheckpointEpoch(runDir string) (epochs int, ok bool) {
	ck, err := latestCheckpoint(runDir)
	if err != nil || ck == "" {
		return 0, false
	}
	if _, err := fmt.Sscanf(filepath.Base(ck), checkpointPrefix+"%d", &epochs); err != nil {
		return 0, false
	}
	if isDivergedCheckpoint(ck) { // the end of a run that diverged in that epoch
		epochs--
	}
	return epochs, true
}

// HasCheckpoint reports whether runDir holds a checkpoint of an unfinished run.
func HasCheckpoint(runDir string) bool {
	dir, err := latestCheckpoint(runDir)
	return err == nil && dir != ""
}

// check reports what in st cannot be a run's progress.
func (st checkpointState) check() error {
	switch st.Status {
	case "":
		if st.Epoch < 1 || len(st.Metrics) != st.Epoch+1 {
			return fmt.Errorf("epoch %d with %d metrics lines", st.Epoch, len(st.Metrics))
		}
	case StatusDiverged:
		if st.Epoch < 0 || len(st.Metrics) != st.Epoch+2 {
			return fmt.Errorf("a run diverged after epoch %d with %d metrics lines", st.Epoch, len(st.Metrics))
		}
		if last := st.Metrics[st.Epoch+1]; last.Status != StatusDiverged {
			return fmt.Errorf("a run diverged, its last metrics line of status %q", last.Status)
		}
	default:
		return fmt.Errorf("status %q", st.Status)
	}
	return nil
}

// restoreCheckpoint sets the variables of store to the values saved in the checkpoint
// folder dir and returns the run's progress. Every variable of the store must come back
// with the value saved, byte for byte, and nothing else be there; otherwise the error
// wraps ErrBadCheckpoint (an error reading the folder does not: the checkpoint may be
// fine).
func restoreCheckpoint(store *gmodel.Store, dir string) (checkpointState, error) {
	var st checkpointState
	data, err := os.ReadFile(filepath.Join(dir, checkpointStateFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return st, fmt.Errorf("experiment: reading checkpoint %s: %w", dir, err)
	}
	if err == nil {
		err = json.Unmarshal(data, &st)
	}
	if err != nil {
		return st, fmt.Errorf("%w: checkpoint %s: %v", ErrBadCheckpoint, dir, err)
	}
	if err := st.check(); err != nil {
		return st, fmt.Errorf("%w: checkpoint %s: %v", ErrBadCheckpoint, dir, err)
	}
	if name := filepath.Base(dir); isDivergedCheckpoint(name) != (st.Status == StatusDiverged) {
		return st, fmt.Errorf("%w: checkpoint %s holds a run whose status is %q", ErrBadCheckpoint, dir, st.Status)
	}
	var here []string
	for v := range store.IterVariables() {
		here = append(here, v.Path())
	}
	slices.Sort(here)
	if saved := slices.Sorted(maps.Keys(st.Variables)); !slices.Equal(here, saved) {
		return st, fmt.Errorf("%w: checkpoint %s holds the variables of another model or optimizer (%d saved, %d here)",
			ErrBadCheckpoint, dir, len(saved), len(here))
	}
	loader := store.Loader()
	h, err := checkpoint.Load(store).Dir(dir).Done()
	store.SetLoader(loader)
	if err != nil {
		return st, fmt.Errorf("%w: checkpoint %s: %v", ErrBadCheckpoint, dir, err)
	}
	if left := h.LoadedVariables(); len(left) > 0 {
		return st, fmt.Errorf("%w: checkpoint %s: %d saved variables are not the model's", ErrBadCheckpoint, dir, len(left))
	}
	restored, err := variableDigests(store)
	if err != nil {
		return st, err
	}
	for _, path := range here {
		if restored[path] != st.Variables[path] {
			return st, fmt.Errorf("%w: checkpoint %s: %s does not come back as it was saved (damaged since)", ErrBadCheckpoint, dir, path)
		}
	}
	return st, nil
}
