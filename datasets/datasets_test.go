package datasets

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// idxImages encodes n images of h x w as an IDX3 file; pixel values are (i+j) mod 256.
func idxImages(n, h, w int) []byte {
	b := bytes.NewBuffer(idxHeader(n, h, w))
	for i := 0; i < n*h*w; i++ {
		b.WriteByte(byte(i % 251))
	}
	return b.Bytes()
}

// idxHeader encodes the header of an IDX3 file of n images of h x w, without the images.
func idxHeader(n, h, w int) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, []uint32{idxMagicImages, uint32(n), uint32(h), uint32(w)})
	return b.Bytes()
}

func idxLabels(labels []uint8) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, []uint32{idxMagicLabels, uint32(len(labels))})
	b.Write(labels)
	return b.Bytes()
}

// gzFiles writes each payload file gzipped (NAME.gz) into a new directory and returns it.
func gzFiles(t *testing.T, payload map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range payload {
		if err := os.WriteFile(filepath.Join(dir, name+".gz"), gz(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func gz(data []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	zw.Close()
	return b.Bytes()
}

func TestReadIDX(t *testing.T) {
	images := idxImages(3, 4, 5)
	labels := idxLabels([]uint8{1, 2, 3})
	tests := []struct {
		name    string
		data    []byte
		labels  bool
		wantErr string
	}{
		{"images", images, false, ""},
		{"images gz", gz(images), false, ""},
		{"labels", labels, true, ""},
		{"labels gz", gz(labels), true, ""},
		{"bad magic", labels, false, "bad IDX magic"},
		{"short data", images[:len(images)-1], false, "data is short"},
		{"trailing bytes", append(slices.Clone(images), 0), false, "trailing bytes"},
		{"truncated gz", gz(images)[:len(gz(images))-10], false, "unexpected EOF"},
		{"empty", nil, false, "reading IDX magic"},
		{"zero dimension", idxImages(0, 4, 5), false, "out of range"},
		{"sizes overflowing", idxHeader(1<<24, 1<<20, 1<<20), false,
			"IDX images: header announces images of 1048576x1048576: esp stores images of at most 16777216 pixels"},
		{"images too large", idxHeader(1, 4097, 4096), false, "images of 4096x4097: esp stores images of at most"},
		{"too many bytes", idxHeader(1<<24, 2048, 2048), false, "16777216 examples of 2048x2048 pixels x 1 channels: 70368744177664 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.labels {
				var got []uint8
				got, err = ReadIDXLabels(bytes.NewReader(tc.data))
				if err == nil && !slices.Equal(got, []uint8{1, 2, 3}) {
					t.Errorf("labels %v", got)
				}
			} else {
				var got []uint8
				var h, w int
				got, h, w, err = ReadIDXImages(bytes.NewReader(tc.data))
				if err == nil && (h != 4 || w != 5 || len(got) != 60 || got[59] != 59) {
					t.Errorf("got %d bytes of %dx%d", len(got), h, w)
				}
			}
			if tc.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func FuzzReadIDXImages(f *testing.F) {
	f.Add(idxImages(2, 3, 3))
	f.Add(gz(idxImages(2, 3, 3)))
	f.Add([]byte{0, 0, 8, 3, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		images, h, w, err := ReadIDXImages(bytes.NewReader(data))
		if err == nil && len(images)%(h*w) != 0 {
			t.Errorf("%d bytes is not a whole number of %dx%d images", len(images), h, w)
		}
	})
}

func FuzzReadSplitFile(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "seed.bin")
	if _, err := WriteSplitFile(path, []uint8{1, 0}, 2, 2, 1, func(i int) []uint8 { return []uint8{1, 2, 3, 4} }); err != nil {
		f.Fatal(err)
	}
	seed, _ := os.ReadFile(path)
	f.Add(seed)
	f.Add(seed[:20])
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "f.bin")
		os.WriteFile(p, data, 0o644)
		s, err := ReadSplitFile(p, "")
		if err == nil && len(s.Images) != s.Len()*s.ImageSize() {
			t.Errorf("%d image bytes for %d examples of %d bytes", len(s.Images), s.Len(), s.ImageSize())
		}
	})
}

func TestSplitFileRoundTripAndChecksum(t *testing.T) {
	path := filepath.Join(t.TempDir(), "train.bin")
	labels := []uint8{0, 1, 2}
	img := func(i int) []uint8 { return []uint8{uint8(i), uint8(i + 1), 7, 8, 9, 10} }
	sf, err := WriteSplitFile(path, labels, 1, 2, 3, img)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ReadSplitFile(path, sf.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Labels, labels) || !slices.Equal(s.Image(2), img(2)) || s.Channels != 3 {
		t.Errorf("round trip gave %+v", s)
	}
	data, _ := os.ReadFile(path)
	data[len(data)-1] ^= 1
	os.WriteFile(path, data, 0o644)
	if _, err := ReadSplitFile(path, sf.SHA256); err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Errorf("tampered file: error %v, want a checksum mismatch", err)
	}
	os.WriteFile(path, data[:len(data)-2], 0o644)
	if _, err := ReadSplitFile(path, ""); err == nil || !strings.Contains(err.Error(), "data is short") {
		t.Errorf("truncated file: error %v, want data is short", err)
	}
}

// writePNG encodes a w x h image, gray or RGB.
func writePNG(t *testing.T, path string, w, h int, gray bool, v uint8) {
	t.Helper()
	var img image.Image
	if gray {
		g := image.NewGray(image.Rect(0, 0, w, h))
		for i := range g.Pix {
			g.Pix[i] = v
		}
		img = g
	} else {
		c := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c.Set(x, y, color.RGBA{v, v / 2, 3, 255})
			}
		}
		img = c
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

// makeFolder writes a small image folder: classes cat and dog, 3 train and 2 test images each.
func makeFolder(t *testing.T, gray bool) string {
	root := t.TempDir()
	for c, class := range []string{"dog", "cat"} {
		for i := range 3 {
			writePNG(t, filepath.Join(root, "train", class, string(rune('a'+i))+".png"), 4, 3, gray, uint8(10*c+i))
		}
		for i := range 2 {
			writePNG(t, filepath.Join(root, "test", class, string(rune('a'+i))+".png"), 4, 3, gray, uint8(100+10*c+i))
		}
	}
	return root
}

// tarGz packs a directory as a tar.gz.
func tarGz(t *testing.T, dir, out string) {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	err = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		hdr, _ := tar.FileInfoHeader(info, "")
		hdr.Name = "top/" + filepath.ToSlash(rel)
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.IsDir() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	tw.Close()
	zw.Close()
	f.Close()
}

func TestReadImageFolder(t *testing.T) {
	for _, gray := range []bool{true, false} {
		dir := makeFolder(t, gray)
		archive := filepath.Join(t.TempDir(), "folder.tar.gz")
		tarGz(t, dir, archive)
		for _, src := range []string{dir, archive} {
			d, err := ReadImageFolder(src, "pets")
			if err != nil {
				t.Fatal(err)
			}
			wantChannels := 3
			if gray {
				wantChannels = 1
			}
			if !slices.Equal(d.Classes, []string{"cat", "dog"}) || d.Train.Len() != 6 || d.Test.Len() != 4 ||
				d.Train.Height != 3 || d.Train.Width != 4 || d.Train.Channels != wantChannels {
				t.Fatalf("%s: classes %v, %d/%d examples of %dx%dx%d", src, d.Classes, d.Train.Len(), d.Test.Len(),
					d.Train.Height, d.Train.Width, d.Train.Channels)
			}
			// cat (label 0) was written with values 10..12, dog with 0..2: each image keeps its label,
			// and every image appears once.
			var firstPixels []int
			for i := range d.Train.Len() {
				v := int(d.Train.Image(i)[0])
				if (v >= 10) != (d.Train.Labels[i] == 0) {
					t.Errorf("%s: example %d has pixel %d but label %d", src, i, v, d.Train.Labels[i])
				}
				firstPixels = append(firstPixels, v)
			}
			slices.Sort(firstPixels)
			if !slices.Equal(firstPixels, []int{0, 1, 2, 10, 11, 12}) {
				t.Errorf("%s: images %v, want each of 0,1,2,10,11,12 once", src, firstPixels)
			}
		}
	}
}

// TestReadImageFolderMixedGray: a gray image in a color folder is expanded to RGB,
// whether it is read first (test/cat/a.png) or later, and color images stay in color.
func TestReadImageFolderMixedGray(t *testing.T) {
	dir := makeFolder(t, false)
	for _, file := range []string{"test/cat/a.png", "train/dog/c.png"} {
		writePNG(t, filepath.Join(dir, file), 4, 3, true, 77)
	}
	d, err := ReadImageFolder(dir, "pets")
	if err != nil {
		t.Fatal(err)
	}
	grays := 0
	for _, s := range []*Split{d.Train, d.Test} {
		if s.Channels != 3 {
			t.Fatalf("%d channels, want 3", s.Channels)
		}
		for i := range s.Len() {
			px := s.Image(i)[:3]
			switch {
			case px[0] == 77:
				grays++
				if px[1] != 77 || px[2] != 77 {
					t.Errorf("gray image expanded to %v, want [77 77 77]", px)
				}
			case px[1] != px[0]/2 || px[2] != 3:
				t.Errorf("color image's first pixel %v, want [v v/2 3]", px)
			}
		}
	}
	if grays != 2 {
		t.Errorf("%d gray images, want 2", grays)
	}
}

func TestReadImageFolderErrors(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(t *testing.T, root string)
		wantErr string
	}{
		{"wrong size", func(t *testing.T, root string) {
			writePNG(t, filepath.Join(root, "train", "dog", "z.png"), 5, 3, true, 1)
		}, "z.png: image is 5x3, but the first image was 4x3"},
		{"empty class", func(t *testing.T, root string) {
			os.MkdirAll(filepath.Join(root, "test", "bird"), 0o755)
			os.MkdirAll(filepath.Join(root, "train", "bird"), 0o755)
			writePNG(t, filepath.Join(root, "train", "bird", "a.png"), 4, 3, true, 1)
		}, "class folder test/bird is empty"},
		{"image too large", func(t *testing.T, root string) { // the first image read: refused before it is decoded
			writePNG(t, filepath.Join(root, "test", "cat", "a.png"), 4097, 4096, true, 1)
		}, "test/cat/a.png: images of 4097x4096: esp stores images of at most 16777216 pixels (4096x4096): make the folder's images smaller"},
		{"corrupt image", func(t *testing.T, root string) {
			os.WriteFile(filepath.Join(root, "train", "dog", "bad.png"), []byte("not a png"), 0o644)
		}, "bad.png: cannot decode image"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := makeFolder(t, true)
			tc.mutate(t, root)
			_, err := ReadImageFolder(root, "pets")
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestReadCIFARBatchErrors(t *testing.T) {
	split := &Split{Images: make([]uint8, cifarBatchSize*cifarImageBytes), Labels: make([]uint8, cifarBatchSize),
		Height: 32, Width: 32, Channels: 3}
	full := make([]byte, cifarBatchSize*cifarRecordBytes)
	// Record 1: label 3, red plane 1, green 2, blue 3.
	rec := full[cifarRecordBytes : 2*cifarRecordBytes]
	rec[0] = 3
	for p := 0; p < 1024; p++ {
		rec[1+p], rec[1025+p], rec[2049+p] = 1, 2, 3
	}
	if err := readCIFARBatch(bytes.NewReader(full), split, 0); err != nil {
		t.Fatal(err)
	}
	if split.Labels[1] != 3 || !slices.Equal(split.Image(1)[:6], []uint8{1, 2, 3, 1, 2, 3}) {
		t.Errorf("record 1: label %d, pixels %v: want planar -> interleaved RGB", split.Labels[1], split.Image(1)[:6])
	}
	tests := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"short record", full[:len(full)-5], "short record 9999"},
		{"missing records", full[:cifarRecordBytes*10], "only 10 records"},
		{"extra bytes", append(slices.Clone(full), 1), "more than 10000 records"},
		{"bad label", append([]byte{12}, full[1:]...), "label 12"},
	}
	for _, tc := range tests {
		err := readCIFARBatch(bytes.NewReader(tc.data), split, 0)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.wantErr)
		}
	}
}

// tinyIDX registers a small IDX dataset with real checksums for the fetch tests.
func tinyIDX(t *testing.T) (info *Info, payload map[string][]byte) {
	t.Helper()
	payload = map[string][]byte{
		"train-images-idx3-ubyte": idxImages(6, 2, 2),
		"train-labels-idx1-ubyte": idxLabels([]uint8{0, 1, 0, 1, 0, 1}),
		"t10k-images-idx3-ubyte":  idxImages(2, 2, 2),
		"t10k-labels-idx1-ubyte":  idxLabels([]uint8{1, 0}),
	}
	info = &Info{Name: "tiny-idx", Format: FormatIDX, Classes: []string{"a", "b"}, TrainSize: 6, TestSize: 2,
		Height: 2, Width: 2, Channels: 1}
	for _, name := range []string{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"} {
		sum := sha256.Sum256(payload[name])
		info.Files = append(info.Files, File{Name: name, Size: int64(len(payload[name])), SHA256: hex.EncodeToString(sum[:])})
	}
	registry[info.Name] = info
	t.Cleanup(func() { delete(registry, info.Name) })
	return info, payload
}

// assertNoTempFiles fails if a temporary or partial file is left anywhere under dir.
func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && (strings.HasPrefix(info.Name(), ".tmp-") || strings.Contains(info.Name(), oldSuffix)) {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
}

func TestFetchHTTP(t *testing.T) {
	_, payload := tinyIDX(t)
	good := func(w http.ResponseWriter, r *http.Request) {
		data, ok := payload[strings.TrimSuffix(filepath.Base(r.URL.Path), ".gz")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(gz(data))
	}
	wrongBytes := func(w http.ResponseWriter, r *http.Request) {
		data := slices.Clone(payload[strings.TrimSuffix(filepath.Base(r.URL.Path), ".gz")])
		data[len(data)-1] ^= 0xff
		w.Write(gz(data))
	}
	dropping := func(w http.ResponseWriter, r *http.Request) {
		data := gz(payload[strings.TrimSuffix(filepath.Base(r.URL.Path), ".gz")])
		w.Header().Set("Content-Length", "100000")
		w.Write(data[:len(data)/2])
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}
	notFound := func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }
	// stalled sends the headers and two bytes, then nothing (a dead connection never reset).
	stalled := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.Write([]byte{0x1f, 0x8b})
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
	}
	oversized := func(w http.ResponseWriter, r *http.Request) {
		data := payload[strings.TrimSuffix(filepath.Base(r.URL.Path), ".gz")]
		w.Write(gz(append(slices.Clone(data), make([]byte, 1<<20)...)))
	}

	tests := []struct {
		name     string
		handlers []http.HandlerFunc
		wantErr  string
	}{
		{"good", []http.HandlerFunc{good}, ""},
		{"second mirror", []http.HandlerFunc{notFound, good}, ""},
		{"wrong bytes", []http.HandlerFunc{wrongBytes}, "checksum mismatch"},
		{"dropped connection", []http.HandlerFunc{dropping}, "unexpected EOF"},
		{"stalled", []http.HandlerFunc{stalled}, "download stalled: nothing received for 300ms"},
		{"stalled, then a good mirror", []http.HandlerFunc{stalled, good}, ""},
		{"another, larger file", []http.HandlerFunc{oversized}, "train-images-idx3-ubyte has more than 40 bytes after decompression"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var urls []string
			for _, h := range tc.handlers {
				srv := httptest.NewServer(h)
				defer srv.Close()
				urls = append(urls, srv.URL+"/data/")
			}
			opts := Options{DataDir: t.TempDir(), URLs: urls, NoFallbacks: true, StallTimeout: 300 * time.Millisecond}
			src, err := Fetch(context.Background(), "tiny-idx", opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				if st := CacheStatus("tiny-idx", opts); st.Checksum != "missing" {
					t.Errorf("after a failed fetch the cache says %q, want missing", st.Checksum)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if src != urls[len(urls)-1] {
					t.Errorf("source %q, want %q", src, urls[len(urls)-1])
				}
				d, err := Load(context.Background(), "tiny-idx", opts)
				if err != nil {
					t.Fatal(err)
				}
				if d.Train.Len() != 6 || d.Test.Len() != 2 || d.Test.Labels[0] != 1 {
					t.Errorf("loaded %d/%d examples", d.Train.Len(), d.Test.Len())
				}
			}
			assertNoTempFiles(t, opts.DataDir)
		})
	}
}

func TestFetchFromAndCorruptCache(t *testing.T) {
	_, payload := tinyIDX(t)
	from := gzFiles(t, payload)
	opts := Options{DataDir: t.TempDir(), From: from, URLs: []string{}, NoFallbacks: true}
	if _, err := Fetch(context.Background(), "tiny-idx", opts); err != nil {
		t.Fatal(err)
	}
	if st := CacheStatus("tiny-idx", opts); !st.Verified() || st.Source != from {
		t.Fatalf("status %+v", st)
	}
	// Corrupt one cached byte: Load names the file, data list reports the mismatch.
	path := filepath.Join(opts.DataDir, "tiny-idx", "train-labels-idx1-ubyte")
	data, _ := os.ReadFile(path)
	data[len(data)-1] = 0
	os.WriteFile(path, data, 0o644)
	if _, err := Load(context.Background(), "tiny-idx", opts); err == nil || !strings.Contains(err.Error(), "train-labels-idx1-ubyte: checksum mismatch") ||
		strings.Count(err.Error(), "again") != 1 {
		t.Errorf("Load of a corrupted cache: %v; want the file named, and one hint to fetch it again", err)
	}
	if st := CacheStatus("tiny-idx", opts); st.Checksum != "mismatch" || !strings.Contains(st.Problem, "train-labels-idx1-ubyte") {
		t.Errorf("status of a corrupted cache: %q", st.Checksum)
	}
	// A --from missing a file is an error naming it.
	os.Remove(filepath.Join(from, "t10k-labels-idx1-ubyte.gz"))
	os.RemoveAll(filepath.Join(opts.DataDir, "tiny-idx"))
	if _, err := Fetch(context.Background(), "tiny-idx", opts); err == nil || !strings.Contains(err.Error(), "missing t10k-labels-idx1-ubyte") {
		t.Errorf("Fetch from an incomplete folder: %v", err)
	}
}

// TestFetchFromAnotherDataset: IDX files of another known dataset are named as such, and
// the failed fetch leaves no folder in the cache.
func TestFetchFromAnotherDataset(t *testing.T) {
	tiny, payload := tinyIDX(t)
	other := *tiny
	other.Name, other.Files = "tiny-other", nil
	for _, f := range tiny.Files {
		f.SHA256 = strings.Repeat("0", 64) // files no copy matches
		other.Files = append(other.Files, f)
	}
	registry[other.Name] = &other
	t.Cleanup(func() { delete(registry, other.Name) })
	from := gzFiles(t, payload)
	opts := Options{DataDir: t.TempDir(), From: from, URLs: []string{}, NoFallbacks: true}
	_, err := Fetch(context.Background(), "tiny-other", opts)
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch: it is tiny-idx's") {
		t.Errorf("fetching tiny-other from tiny-idx's files: %v", err)
	}
	if _, err := os.Stat(filepath.Join(opts.DataDir, "tiny-other")); !os.IsNotExist(err) {
		t.Errorf("the failed fetch left a folder in the cache (%v)", err)
	}
}

// TestFetchFromLinks: --from may be a symbolic link to the folder, or a folder of links to
// the files (a dataset store); a link to a folder that holds it is not entered again.
func TestFetchFromLinks(t *testing.T) {
	_, payload := tinyIDX(t)
	tests := []struct {
		name string
		from func(files string) string // builds the --from path from a folder holding the files
	}{
		{"link to the folder", func(files string) string {
			link := filepath.Join(t.TempDir(), "mnist")
			if err := os.Symlink(files, link); err != nil {
				t.Fatal(err)
			}
			return link
		}},
		{"folder of links", func(files string) string {
			dir := t.TempDir()
			for name := range payload {
				if err := os.Symlink(filepath.Join(files, name+".gz"), filepath.Join(dir, name+".gz")); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Symlink(dir, filepath.Join(dir, "loop")); err != nil { // a cycle: not entered
				t.Fatal(err)
			}
			return dir
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := gzFiles(t, payload)
			opts := Options{DataDir: t.TempDir(), From: tc.from(files), URLs: []string{}, NoFallbacks: true}
			if _, err := Fetch(context.Background(), "tiny-idx", opts); err != nil {
				t.Fatal(err)
			}
			if st := CacheStatus("tiny-idx", opts); !st.Verified() {
				t.Fatalf("status %+v", st)
			}
		})
	}
}

func TestImportImageFolderKeepsOldCacheOnFailure(t *testing.T) {
	dataDir := t.TempDir()
	good := makeFolder(t, false)
	opts := Options{DataDir: dataDir, From: good}
	if _, err := Fetch(context.Background(), "pets", opts); err != nil {
		t.Fatal(err)
	}
	d, err := Load(context.Background(), "pets", Options{DataDir: dataDir})
	if err != nil || d.Train.Len() != 6 || d.Train.Channels != 3 {
		t.Fatalf("Load: %v", err)
	}
	// A bad re-import fails and leaves the cached copy verified.
	bad := makeFolder(t, false)
	writePNG(t, filepath.Join(bad, "train", "dog", "z.png"), 9, 9, false, 1)
	os.Remove(filepath.Join(dataDir, "pets", "manifest.json")) // force a re-import
	writeManifestBack := func() {
		if _, err := Fetch(context.Background(), "pets", Options{DataDir: dataDir, From: good}); err != nil {
			t.Fatal(err)
		}
	}
	writeManifestBack()
	before, _ := os.ReadFile(filepath.Join(dataDir, "pets", "manifest.json"))
	os.WriteFile(filepath.Join(dataDir, "pets", "train.bin"), []byte("garbage"), 0o644)
	if _, err := Fetch(context.Background(), "pets", Options{DataDir: dataDir, From: bad}); err == nil {
		t.Fatal("importing a folder with a wrong-size image succeeded")
	}
	after, _ := os.ReadFile(filepath.Join(dataDir, "pets", "manifest.json"))
	if !bytes.Equal(before, after) {
		t.Error("a failed import changed the cached manifest")
	}
	assertNoTempFiles(t, dataDir)
	if names := ListCache(Options{DataDir: dataDir}); !slices.ContainsFunc(names, func(s Status) bool { return s.Name == "pets" }) {
		t.Errorf("ListCache does not list the imported folder: %+v", names)
	}
}

// TestReimportAnotherFolder: fetching an imported name from another folder is refused,
// naming both, and leaves the import as it was; the same folder, by any path, is the cache.
func TestReimportAnotherFolder(t *testing.T) {
	dataDir := t.TempDir()
	first := makeFolder(t, false)
	if _, err := Fetch(context.Background(), "pets", Options{DataDir: dataDir, From: first}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dataDir, "pets", "manifest.json"))
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(first, link); err != nil {
		t.Fatal(err)
	}
	for _, from := range []string{first, link} {
		if src, err := Fetch(context.Background(), "pets", Options{DataDir: dataDir, From: from}); err != nil || src != "cache" {
			t.Errorf("fetching pets again from %s: %q, %v; want the cache", from, src, err)
		}
	}
	other := makeFolder(t, true)
	_, err := Fetch(context.Background(), "pets", Options{DataDir: dataDir, From: other})
	if err == nil || !strings.Contains(err.Error(), "pets is already imported, from "+first) || !strings.Contains(err.Error(), "give it another name") {
		t.Errorf("fetching pets from another folder: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(dataDir, "pets", "manifest.json"))
	if !bytes.Equal(before, after) {
		t.Error("the refused import changed the cached manifest")
	}
}

// TestImportKeepsForeignFolders: a folder of the user's in the data directory under the
// name being imported (the image folder itself, or unrelated files) is refused, not
// replaced; an entry holding only what esp writes is replaced.
func TestImportKeepsForeignFolders(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, dataDir string) (from string)
		wantErr string // "" for an import that succeeds
	}{
		{"the image folder kept in the data directory", func(t *testing.T, dataDir string) string {
			from := filepath.Join(dataDir, "pets")
			if err := os.Rename(makeFolder(t, false), from); err != nil {
				t.Fatal(err)
			}
			return from
		}, "pets exists and holds test, which esp did not write there"},
		{"another folder of that name", func(t *testing.T, dataDir string) string {
			os.MkdirAll(filepath.Join(dataDir, "pets"), 0o755)
			os.WriteFile(filepath.Join(dataDir, "pets", "thesis.tex"), []byte("draft"), 0o644)
			return makeFolder(t, false)
		}, "pets exists and holds thesis.tex"},
		{"an empty folder", func(t *testing.T, dataDir string) string {
			os.MkdirAll(filepath.Join(dataDir, "pets"), 0o755)
			return makeFolder(t, false)
		}, ""},
		{"split files without their manifest", func(t *testing.T, dataDir string) string {
			os.MkdirAll(filepath.Join(dataDir, "pets"), 0o755)
			os.WriteFile(filepath.Join(dataDir, "pets", "train.bin"), []byte("left"), 0o644)
			return makeFolder(t, false)
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := t.TempDir()
			from := tc.prepare(t, dataDir)
			before := listFiles(t, filepath.Join(dataDir, "pets"))
			_, err := Fetch(context.Background(), "pets", Options{DataDir: dataDir, From: from})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if st := CacheStatus("pets", Options{DataDir: dataDir}); !st.Verified() {
					t.Errorf("status %+v", st)
				}
				return
			}
			if !errors.Is(err, ErrNotCacheEntry) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %v saying %q", err, ErrNotCacheEntry, tc.wantErr)
			}
			if after := listFiles(t, filepath.Join(dataDir, "pets")); !slices.Equal(before, after) {
				t.Errorf("the folder changed: %v, was %v", after, before)
			}
			assertNoTempFiles(t, dataDir)
		})
	}
}

// listFiles returns the paths of the files under dir, with their contents' sizes.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			files = append(files, fmt.Sprintf("%s %d", p, info.Size()))
		}
		return nil
	})
	return files
}

// TestReimportChangedFolder: fetching an imported folder again, after it changed, is
// refused and keeps the import; unchanged, it is the cache.
func TestReimportChangedFolder(t *testing.T) {
	dataDir := t.TempDir()
	from := makeFolder(t, false)
	opts := Options{DataDir: dataDir, From: from}
	if _, err := Fetch(context.Background(), "pets", opts); err != nil {
		t.Fatal(err)
	}
	if src, err := Fetch(context.Background(), "pets", opts); err != nil || src != "cache" {
		t.Fatalf("the same folder again: %q, %v; want the cache", src, err)
	}
	before, _ := os.ReadFile(filepath.Join(dataDir, "pets", "manifest.json"))
	writePNG(t, filepath.Join(from, "train", "bird", "a.png"), 4, 3, false, 7)
	writePNG(t, filepath.Join(from, "test", "bird", "a.png"), 4, 3, false, 8)
	_, err := Fetch(context.Background(), "pets", opts)
	if err == nil || !strings.Contains(err.Error(), "pets was imported from "+from+", whose files have changed since") {
		t.Errorf("fetching the changed folder: %v", err)
	}
	if after, _ := os.ReadFile(filepath.Join(dataDir, "pets", "manifest.json")); !bytes.Equal(before, after) {
		t.Error("the refused import changed the cached manifest")
	}
	if _, err := Fetch(context.Background(), "pets2", Options{DataDir: dataDir, From: from}); err != nil {
		t.Fatalf("the changed folder under another name: %v", err)
	}
	if st := CacheStatus("pets2", Options{DataDir: dataDir}); st.TrainSize != 7 || st.TestSize != 5 {
		t.Errorf("pets2 has %d+%d examples, want 7+5", st.TrainSize, st.TestSize)
	}
}

// TestConcurrentImports: an import of a name another process is importing waits for it,
// then sees that import (here: from another folder, so it is refused), instead of both
// importing and the last silently winning.
func TestConcurrentImports(t *testing.T) {
	dataDir := t.TempDir()
	first, second := makeFolder(t, false), makeFolder(t, true)
	unlock, err := lockEntry(context.Background(), dataDir, "pets", Options{}) // the other process
	if err != nil {
		t.Fatal(err)
	}
	progress := &lockedBuffer{}
	done := make(chan error, 1)
	go func() {
		_, err := Fetch(context.Background(), "pets", Options{DataDir: dataDir, From: second, Progress: progress})
		done <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(progress.String(), "another process is fetching it"); {
		if time.Now().After(deadline) {
			t.Fatalf("the second import did not wait; progress %q", progress.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := fetchFrom(context.Background(), nil, "pets", filepath.Join(dataDir, "pets"), first, Options{}); err != nil {
		t.Fatal(err)
	}
	unlock()
	if err := <-done; err == nil || !strings.Contains(err.Error(), "pets is already imported, from ") {
		t.Errorf("the waiting import: %v, want a refusal naming the first import", err)
	}
	assertNoTempFiles(t, dataDir)
}

// lockedBuffer is a bytes.Buffer safe for one writer and one reader at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestFetchRemovesLeftovers: what a killed fetch left (temporary files and folders, a
// copy moved aside) goes at the next fetch of that dataset, and another dataset's stays.
func TestFetchRemovesLeftovers(t *testing.T) {
	_, payload := tinyIDX(t)
	files := gzFiles(t, payload)
	dataDir := t.TempDir()
	left := []string{
		filepath.Join(dataDir, tempPrefix("pets")+"123", "train.bin"),
		filepath.Join(dataDir, tempPrefix("pets")+"archive-9"),
		filepath.Join(dataDir, "pets"+oldSuffix+"x", "manifest.json"),
		filepath.Join(dataDir, "tiny-idx", ".tmp-train-images-idx3-ubyte-77"),
	}
	other := filepath.Join(dataDir, tempPrefix("pets-2")+"5", "train.bin")
	for _, p := range append(left, other) {
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("partial"), 0o644)
	}
	if _, err := Fetch(context.Background(), "pets", Options{DataDir: dataDir, From: makeFolder(t, false)}); err != nil {
		t.Fatal(err)
	}
	if _, err := Fetch(context.Background(), "tiny-idx", Options{DataDir: dataDir, From: files, NoFallbacks: true}); err != nil {
		t.Fatal(err)
	}
	for _, p := range left {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("left behind: %s", p)
		}
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("another dataset's temporary file went: %v", err)
	}
}

// TestCacheModes: the cache is readable by all, as a cache shared between users needs.
func TestCacheModes(t *testing.T) {
	_, payload := tinyIDX(t)
	files := gzFiles(t, payload)
	opts := Options{DataDir: t.TempDir(), From: files, NoFallbacks: true}
	if _, err := Fetch(context.Background(), "tiny-idx", opts); err != nil {
		t.Fatal(err)
	}
	if _, err := Fetch(context.Background(), "pets", Options{DataDir: opts.DataDir, From: makeFolder(t, false)}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want os.FileMode
	}{
		{filepath.Join("tiny-idx", "train-images-idx3-ubyte"), 0o444},
		{"pets", 0o555},
		{filepath.Join("pets", "train.bin"), 0o444},
		{filepath.Join("pets", "manifest.json"), 0o444},
	} {
		st, err := os.Stat(filepath.Join(opts.DataDir, tc.path))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&tc.want != tc.want {
			t.Errorf("%s: mode %v, want at least %v", tc.path, st.Mode().Perm(), tc.want)
		}
	}
}

// TestFetchInterrupted: an interrupted download ends the fetch; it does not go on to
// the offline fallbacks.
func TestFetchInterrupted(t *testing.T) {
	tinyIDX(t)
	ctx, cancel := context.WithCancel(context.Background())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cancel()
		<-r.Context().Done()
	}))
	defer srv.Close()
	_, err := Fetch(ctx, "tiny-idx", Options{DataDir: t.TempDir(), URLs: []string{srv.URL + "/"}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want %v", err, context.Canceled)
	}
}

func TestUnknownDataset(t *testing.T) {
	_, err := Load(context.Background(), "imagenet", Options{DataDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "valid datasets are cifar10, fashion-mnist, mnist") {
		t.Errorf("error %v", err)
	}
	_, err = Fetch(context.Background(), "Bad Name", Options{DataDir: t.TempDir(), From: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "invalid dataset name") {
		t.Errorf("error %v", err)
	}
}

// TestCheck accepts the known datasets and the cache's imported folders, and names both
// when it refuses a name.
func TestCheck(t *testing.T) {
	dataDir := t.TempDir()
	opts := Options{DataDir: dataDir}
	if _, err := Fetch(context.Background(), "pets", Options{DataDir: dataDir, From: makeFolder(t, true)}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, want string // want: "" for accepted
	}{
		{"mnist", ""},
		{"cifar10", ""},
		{"pets", ""},
		{"imagenet", `unknown dataset "imagenet": valid datasets are cifar10, fashion-mnist, mnist, or an image folder imported with esp data fetch NAME --from DIR (in ` + dataDir + ": pets)"},
		{"pet", "(in " + dataDir + ": pets)"},
	} {
		err := Check(tc.name, opts)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("Check(%q) = %v, want %q", tc.name, err, tc.want)
		}
	}
	if err := Check("pets", Options{DataDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), ": none)") {
		t.Errorf("Check(pets) in an empty cache = %v, want no imported folders named", err)
	}
}

// TestRealDatasets loads the real datasets when the cache holds them (CI fetches them first).
func TestRealDatasets(t *testing.T) {
	opts := Options{URLs: []string{}, NoFallbacks: true}
	for _, name := range Names() {
		info := registry[name]
		if !CacheStatus(name, opts).Verified() {
			t.Logf("%s is not in the cache %s: skipped", name, opts.dataDir())
			continue
		}
		d, err := Load(context.Background(), name, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkAgainstInfo(d, info); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
