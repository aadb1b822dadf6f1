package experiment

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
