package datasets

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
)

// splitFileMagic starts every esp split file. The layout, all integers little endian:
//
//	magic "ESPSPLIT" | version uint32 | n uint32 | height uint32 | width uint32 | channels uint32
//	| n label bytes | n*height*width*channels image bytes (NHWC)
const (
	splitFileMagic   = "ESPSPLIT"
	splitFileVersion = 1
	splitHeaderSize  = 8 + 5*4
)

// ManifestVersion is the version of the cache manifest format; a manifest of
// another version is refused with a message to fetch the dataset again.
const ManifestVersion = 1

// Manifest describes a dataset cached as split files.
type Manifest struct {
	Version int      `json:"version"`
	Name    string   `json:"name"`
	Classes []string `json:"classes"`
	Source  string   `json:"source"`
	// SourceState fingerprints the folder or archive imported (names, sizes and times of
	// its files), so that a later fetch --from it notices it changed; "" for a download.
	SourceState string `json:"source_state,omitempty"`
	Height      int    `json:"height"`
	Width       int    `json:"width"`
	// Channels is 1 (gray) or 3 (RGB).
	Channels int                  `json:"channels"`
	Splits   map[string]SplitFile `json:"splits"`
}

// SplitFile records one split file of a manifest and its checksum.
type SplitFile struct {
	File     string `json:"file"`
	Examples int    `json:"examples"`
	Bytes    int64  `json:"bytes"`
	SHA256   string `json:"sha256"`
}

// What a split file holds, its writer and its reader alike: larger images or more of them
// are refused when written, rather than stored and then refused when read back.
const (
	// MaxImagePixels bounds an image's height x width: 4096x4096.
	MaxImagePixels = 1 << 24
	// MaxSplitExamples bounds the examples of a split.
	MaxSplitExamples = 1 << 26
)

// checkSplitShape reports a shape a split file cannot hold: n examples of images of
// height x width x channels, with channels 1 (gray) or 3 (RGB).
func checkSplitShape(n, height, width, channels int) error {
	switch {
	case height <= 0 || width <= 0:
		return fmt.Errorf("images of %dx%d: want a positive width and height", width, height)
	case height > MaxImagePixels || width > MaxImagePixels || height*width > MaxImagePixels:
		return fmt.Errorf("images of %dx%d: esp stores images of at most %d pixels (4096x4096)", width, height, MaxImagePixels)
	case channels != 1 && channels != 3:
		return fmt.Errorf("images of %d channels: esp stores 1 (gray) or 3 (RGB)", channels)
	case n < 0 || n > MaxSplitExamples:
		return fmt.Errorf("%d examples: esp stores at most %d in a split", n, MaxSplitExamples)
	case int64(n)*int64(height*width*channels) > maxPayload:
		return fmt.Errorf("%d examples of %dx%d pixels x %d channels: %d bytes, more than the %d esp stores in a split",
			n, width, height, channels, int64(n)*int64(height*width*channels), int64(maxPayload))
	}
	return nil
}

// WriteSplitFile writes a split atomically to path (temporary file, then rename)
// and returns its size and SHA-256. image(i) returns the NHWC bytes of example i.
// A shape that ReadSplitFile would refuse (see [MaxImagePixels], [MaxSplitExamples];
// channels 1 or 3) is an error, and nothing is written.
func WriteSplitFile(path string, labels []uint8, height, width, channels int, image func(i int) []uint8) (SplitFile, error) {
	if err := checkSplitShape(len(labels), height, width, channels); err != nil {
		return SplitFile{}, fmt.Errorf("writing %s: %w", path, err)
	}
	if image == nil {
		return SplitFile{}, fmt.Errorf("writing %s: no image function", path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return SplitFile{}, err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return SplitFile{}, err
	}
	hasher := sha256.New()
	counter := &countingWriter{w: io.MultiWriter(tmp, hasher)}
	w := bufio.NewWriterSize(counter, 1<<20)
	header := make([]byte, splitHeaderSize)
	copy(header, splitFileMagic)
	for i, v := range []int{splitFileVersion, len(labels), height, width, channels} {
		binary.LittleEndian.PutUint32(header[8+4*i:], uint32(v))
	}
	w.Write(header)
	w.Write(labels)
	size := height * width * channels
	for i := range labels {
		img := image(i)
		if len(img) != size {
			tmp.Close()
			return SplitFile{}, fmt.Errorf("example %d has %d bytes, want %d", i, len(img), size)
		}
		w.Write(img)
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return SplitFile{}, fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return SplitFile{}, err
	}
	if err := tmp.Close(); err != nil {
		return SplitFile{}, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return SplitFile{}, err
	}
	return SplitFile{File: filepath.Base(path), Examples: len(labels), Bytes: counter.n,
		SHA256: hex.EncodeToString(hasher.Sum(nil))}, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ReadSplitFile reads a split file, checking its header, its size and, when
// wantSHA256 is not empty, its checksum.
func ReadSplitFile(path, wantSHA256 string) (*Split, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var hasher hash.Hash = sha256.New()
	r := io.TeeReader(bufio.NewReaderSize(f, 1<<20), hasher)
	header := make([]byte, splitHeaderSize)
	if _, err := io.ReadFull(r, header); err != nil {
		return nil, fmt.Errorf("%s: reading header: %w", path, noEOF(err))
	}
	if string(header[:8]) != splitFileMagic {
		return nil, fmt.Errorf("%s: not an esp split file (bad magic %q)", path, header[:8])
	}
	var v [5]int
	for i := range v {
		v[i] = int(binary.LittleEndian.Uint32(header[8+4*i:]))
	}
	if v[0] != splitFileVersion {
		return nil, sayingRefetch{fmt.Errorf("%s: split file version %d, this toolkit reads version %d: fetch the dataset again", path, v[0], splitFileVersion)}
	}
	n, h, w, c := v[1], v[2], v[3], v[4]
	if err := checkSplitShape(n, h, w, c); err != nil {
		return nil, fmt.Errorf("%s: header says %w: a damaged file, or another program's", path, err)
	}
	s := &Split{Height: h, Width: w, Channels: c}
	if s.Labels, err = readExactly(r, int64(n)); err != nil {
		return nil, fmt.Errorf("%s: labels: %w", path, err)
	}
	if s.Images, err = readExactly(r, int64(n)*int64(h)*int64(w)*int64(c)); err != nil {
		return nil, fmt.Errorf("%s: header says %d images of %dx%dx%d, data is short: %w", path, n, h, w, c, noEOF(err))
	}
	if err := expectEOF(r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if wantSHA256 != "" {
		if got := hex.EncodeToString(hasher.Sum(nil)); got != wantSHA256 {
			return nil, sayingRefetch{fmt.Errorf("%s: checksum mismatch: sha256 %s, manifest says %s: fetch the dataset again", path, got, wantSHA256)}
		}
	}
	return s, nil
}

// writeManifest writes manifest.json atomically into dir.
func writeManifest(dir string, m *Manifest) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, "manifest.json"), append(data, '\n'))
}

// readManifest reads dir/manifest.json.
func readManifest(dir string) (*Manifest, error) {
	path := filepath.Join(dir, "manifest.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if m.Version != ManifestVersion {
		return nil, sayingRefetch{fmt.Errorf("%s: manifest version %d, this toolkit reads version %d: fetch the dataset again", path, m.Version, ManifestVersion)}
	}
	return &m, nil
}

// WriteFileAtomic writes data to a temporary file beside path and renames it into place,
// so readers see either the old file or the whole new one. The file is readable by all
// (0644), as results directories shared between machines need.
func WriteFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
