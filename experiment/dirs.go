package experiment

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ErrForeignDir is returned for an output directory that holds something other than what
// the command writes there; nothing is written.
var ErrForeignDir = errors.New("directory of another kind")

// CheckResumableDir accepts an output directory that is missing, holds marker (one of its
// own kind, which the caller resumes or rewrites), or holds nothing but the folders named
// in starting and names beginning with ".tmp-": what another process starting at the
// same time (another shard) makes before its marker. Anything else, a file included, is
// refused with an error wrapping ErrForeignDir that says dir is not kind ("a study
// directory"), so that nothing there is written over.
func CheckResumableDir(dir, marker, kind string, starting ...string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %s is not %s: %v", ErrForeignDir, dir, kind, ReadDirError(dir, err))
	}
	if _, err := os.Stat(filepath.Join(dir, marker)); err == nil {
		return nil
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") || e.IsDir() && slices.Contains(starting, e.Name()) {
			continue
		}
		return fmt.Errorf("%w: %s holds %s but no %s, so it is not %s: choose a new directory (nothing there is overwritten)",
			ErrForeignDir, dir, e.Name(), marker, kind)
	}
	return nil
}

// ReadDirError is err, from reading the directory dir, said plainly where dir is a file
// ("open DIR: not a directory" says it only to those who know the system call).
func ReadDirError(dir string, err error) error {
	if st, serr := os.Stat(dir); serr == nil && !st.IsDir() {
		return fmt.Errorf("%s is a file, not a directory", dir)
	}
	return err
}

// IsLeftWhileTraining reports whether the file name in a run directory is one a process
// training there keeps only while it trains (its lock, a temporary copy of a file it
// replaces): one killed before it wrote its run leaves only these, and Train clears them.
func IsLeftWhileTraining(name string) bool {
	return name == runLockFile || strings.HasPrefix(name, ".tmp-")
}

// removeTempFiles removes the temporary files (".tmp-*", as writeFileAtomic names them)
// directly in dir: a process killed while it replaced a file leaves its temporary copy,
// which the run that resumes there would otherwise keep for good. The caller holds dir:
// no other process writes there.
func removeTempFiles(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), ".tmp-") {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// ErrRunBusy is returned for a run directory another process is training a run in.
var ErrRunBusy = errors.New("run directory in use")

// lockRunDir holds the run directory dir (made if missing) for this process while it
// trains there, with the lock a study's runs use (runLockFile). release removes the lock
// file, and dir too if this call made it and nothing was written there.
func lockRunDir(dir string) (release func(), err error) {
	_, statErr := os.Stat(dir)
	made := errors.Is(statErr, os.ErrNotExist)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	var lock *os.File
	for try := 0; ; try++ {
		lock, err = lockRunTemp(dir)
		if !errors.Is(err, errTempLost) {
			break
		}
		if try == 2 { // not a lock file replaced under this call: a live holder
			return nil, fmt.Errorf("%w: another process is training a run in %s; wait for it to finish, or stop it (it resumes later from its last checkpoint)", ErrRunBusy, dir)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	return func() {
		releaseLock(lock)
		if made {
			os.Remove(dir) // only if empty
		}
	}, nil
}
