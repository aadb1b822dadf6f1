package datasets

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Status describes a dataset in the cache, as `esp data list` shows it.
type Status struct {
	Name      string
	TrainSize int
	TestSize  int
	Dir       string
	Source    string
	// Checksum is "verified", "missing", "incomplete", "mismatch" or "unreadable".
	Checksum string
	// Problem says what is wrong when Checksum is not "verified" or "missing".
	Problem string
}

// Verified reports whether every file of the dataset is present and matches its checksum.
func (s Status) Verified() bool { return s.Checksum == "verified" }

// CacheStatus checks a dataset's files in the cache (hashing them: this reads every byte).
func CacheStatus(name string, opts Options) Status {
	dir := filepath.Join(opts.dataDir(), name)
	st := Status{Name: name, Dir: dir, Checksum: "missing"}
	info, err := Lookup(name)
	if err == nil && info.Format == FormatIDX {
		st.Source = readSourceNote(dir)
		present := 0
		for _, f := range info.Files {
			err := verifyFile(filepath.Join(dir, f.Name), f)
			if os.IsNotExist(err) {
				continue
			}
			present++
			if errors.Is(err, fs.ErrPermission) {
				st.Checksum, st.Problem = "unreadable", err.Error()
				return st
			}
			if err != nil {
				st.Checksum, st.Problem = "mismatch", err.Error()
				return st
			}
		}
		switch present {
		case 0:
		case len(info.Files):
			st.Checksum, st.TrainSize, st.TestSize = "verified", info.TrainSize, info.TestSize
		default:
			st.Checksum, st.Problem = "incomplete", fmt.Sprintf("%d of %d files present", present, len(info.Files))
		}
		return st
	}
	m, err := readManifest(dir)
	if os.IsNotExist(err) {
		return st
	}
	if err != nil {
		st.Checksum, st.Problem = "unreadable", err.Error()
		return st
	}
	st.Source = m.Source
	st.TrainSize, st.TestSize = m.Splits["train"].Examples, m.Splits["test"].Examples
	for _, split := range []string{"train", "test"} {
		sf, ok := m.Splits[split]
		if !ok {
			st.Checksum, st.Problem = "incomplete", "manifest has no "+split+" split"
			return st
		}
		if got, err := FileSHA256(filepath.Join(dir, sf.File)); errors.Is(err, fs.ErrPermission) {
			st.Checksum, st.Problem = "unreadable", err.Error()
			return st
		} else if err != nil {
			st.Checksum, st.Problem = "incomplete", err.Error()
			return st
		} else if got != sf.SHA256 {
			st.Checksum, st.Problem = "mismatch", fmt.Sprintf("%s has sha256 %s, manifest says %s", sf.File, got, sf.SHA256)
			return st
		}
	}
	st.Checksum = "verified"
	return st
}

// ListCache returns the status of every known dataset and of every imported
// image folder found in the cache, sorted by name.
func ListCache(opts Options) []Status {
	names := append(Names(), importedNames(opts)...)
	sort.Strings(names)
	out := make([]Status, len(names))
	for i, n := range names {
		out[i] = CacheStatus(n, opts)
	}
	return out
}

// importedNames returns the names of the image folders imported into the cache.
func importedNames(opts Options) []string {
	var names []string
	entries, _ := os.ReadDir(opts.dataDir())
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") || strings.Contains(e.Name(), oldSuffix) || strings.Contains(e.Name(), ".old-") {
			continue
		}
		if _, err := Lookup(e.Name()); err != nil && isImported(e.Name(), opts) {
			names = append(names, e.Name())
		}
	}
	return names
}

func isImported(name string, opts Options) bool {
	_, err := os.Stat(filepath.Join(opts.dataDir(), name, "manifest.json"))
	return err == nil
}

// Check reports whether Load can give the named dataset: a known one, or an image folder
// imported into the cache. The error names the valid choices, the cache's folders among
// them.
func Check(name string, opts Options) error {
	if _, err := Lookup(name); err == nil || isImported(name, opts) {
		return nil
	}
	imported := "none"
	if names := importedNames(opts); len(names) > 0 {
		imported = strings.Join(names, ", ")
	}
	return fmt.Errorf("unknown dataset %q: valid datasets are %s, or an image folder imported with esp data fetch NAME --from DIR (in %s: %s)",
		name, strings.Join(Names(), ", "), opts.dataDir(), imported)
}

// FileSHA256 returns the hex SHA-256 of a file's contents.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// readSourceNote returns where an IDX dataset was fetched from, as recorded by Fetch.
func readSourceNote(dir string) string {
	data, err := os.ReadFile(filepath.Join(dir, "source.txt"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// Load returns a dataset from the cache, fetching it first (see [Fetch]) when it is not
// there. Files are checked against their checksums while they are read.
func Load(ctx context.Context, name string, opts Options) (*Dataset, error) {
	info, lookupErr := Lookup(name)
	dir := filepath.Join(opts.dataDir(), name)
	if lookupErr != nil && !isImported(name, opts) {
		return nil, Check(name, opts)
	}
	if !cachePresent(info, dir) {
		if _, err := Fetch(ctx, name, opts); err != nil {
			return nil, err
		}
	}
	var d *Dataset
	var err error
	if info != nil && info.Format == FormatIDX {
		d, err = loadIDX(info, dir)
	} else {
		d, err = loadSplitFiles(name, dir)
	}
	if err != nil {
		return nil, withRefetchHint(err, name, info)
	}
	return d, nil
}

// sayingRefetch is an error that already says to fetch the dataset again.
type sayingRefetch struct{ error }

func (e sayingRefetch) Unwrap() error { return e.error }

// withRefetchHint adds to an error reading a cached dataset how to get a whole copy,
// unless it says so already (sayingRefetch): the parse errors of a damaged file name only
// the damage.
func withRefetchHint(err error, name string, info *Info) error {
	if errors.As(err, new(sayingRefetch)) || errors.Is(err, fs.ErrPermission) {
		return err
	}
	if info != nil {
		return fmt.Errorf("%w: the cached copy is damaged: run `esp data fetch %s` again", err, name)
	}
	return fmt.Errorf("%w: the cached copy is damaged: import the folder again (esp data fetch %s --from DIR)", err, name)
}

// cachePresent reports whether the dataset's files exist (without hashing them: Load
// verifies while reading).
func cachePresent(info *Info, dir string) bool {
	if info != nil && info.Format == FormatIDX {
		for _, f := range info.Files {
			if _, err := os.Stat(filepath.Join(dir, f.Name)); err != nil {
				return false
			}
		}
		return true
	}
	_, err := os.Stat(filepath.Join(dir, "manifest.json"))
	return err == nil
}

func loadIDX(info *Info, dir string) (*Dataset, error) {
	d := &Dataset{Name: info.Name, Classes: info.Classes, Source: dir}
	for _, part := range []struct {
		split          **Split
		images, labels File
	}{{&d.Train, info.Files[0], info.Files[1]}, {&d.Test, info.Files[2], info.Files[3]}} {
		s := &Split{Channels: 1}
		err := readVerified(filepath.Join(dir, part.images.Name), part.images, func(r io.Reader) (err error) {
			s.Images, s.Height, s.Width, err = ReadIDXImages(r)
			return err
		})
		if err != nil {
			return nil, err
		}
		err = readVerified(filepath.Join(dir, part.labels.Name), part.labels, func(r io.Reader) (err error) {
			s.Labels, err = ReadIDXLabels(r)
			return err
		})
		if err != nil {
			return nil, err
		}
		*part.split = s
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}

// readVerified parses a file while hashing it, and fails if the checksum differs.
func readVerified(path string, want File, parse func(io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if err := parse(io.TeeReader(bufio.NewReaderSize(f, 1<<20), h)); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want.SHA256 {
		return sayingRefetch{fmt.Errorf("%s: checksum mismatch: sha256 %s, want %s: run `esp data fetch` again", path, got, want.SHA256)}
	}
	return nil
}

func loadSplitFiles(name, dir string) (*Dataset, error) {
	m, err := readManifest(dir)
	if err != nil {
		return nil, err
	}
	d := &Dataset{Name: name, Classes: m.Classes, Source: m.Source}
	for _, part := range []struct {
		name  string
		split **Split
	}{{"train", &d.Train}, {"test", &d.Test}} {
		sf, ok := m.Splits[part.name]
		if !ok {
			return nil, fmt.Errorf("%s: manifest has no %s split", dir, part.name)
		}
		s, err := ReadSplitFile(filepath.Join(dir, sf.File), sf.SHA256)
		if err != nil {
			return nil, err
		}
		*part.split = s
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}
