package datasets

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// splitHeader encodes a split file's header announcing n examples of height x width x
// channels, with no data after it.
func splitHeader(n, height, width, channels int) []byte {
	header := make([]byte, splitHeaderSize)
	copy(header, splitFileMagic)
	for i, v := range []int{splitFileVersion, n, height, width, channels} {
		binary.LittleEndian.PutUint32(header[8+4*i:], uint32(v))
	}
	return header
}

// TestSplitFileShapeLimits: the writer refuses, before writing anything, every shape the
// reader refuses, for the same reason; and the reader reads back the largest images the
// writer accepts.
func TestSplitFileShapeLimits(t *testing.T) {
	tests := []struct {
		name                       string
		n, height, width, channels int
		wantErr                    string // "": accepted
	}{
		{"largest image", 1, 4096, 4096, 1, ""},
		{"largest image, long", 1, 1, MaxImagePixels, 1, ""},
		{"one row too many", 1, 4097, 4096, 1, "images of 4096x4097: esp stores images of at most 16777216 pixels (4096x4096)"},
		{"too wide", 1, 1, MaxImagePixels + 1, 1, "images of 16777217x1: esp stores images of at most 16777216 pixels"},
		{"four channels", 2, 3, 3, 4, "images of 4 channels: esp stores 1 (gray) or 3 (RGB)"},
		{"no channels", 2, 3, 3, 0, "images of 0 channels"},
		{"no rows", 2, 0, 3, 1, "images of 3x0: want a positive width and height"},
		{"too many examples", MaxSplitExamples + 1, 1, 1, 1, "67108865 examples: esp stores at most 67108864 in a split"},
		{"too many bytes", MaxSplitExamples, 16, 16, 3,
			"67108864 examples of 16x16 pixels x 3 channels: 51539607552 bytes, more than the 17179869184 esp stores"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "train.bin")
			if tc.n <= 2 { // larger ones are the reader's part only: their labels alone take 64 MiB
				size := tc.height * tc.width * tc.channels
				image := func(int) []uint8 { return make([]uint8, size) }
				sf, err := WriteSplitFile(path, make([]uint8, tc.n), tc.height, tc.width, tc.channels, image)
				switch {
				case tc.wantErr == "" && err != nil:
					t.Fatalf("WriteSplitFile: %v", err)
				case tc.wantErr == "":
					s, err := ReadSplitFile(path, sf.SHA256)
					if err != nil || s.Len() != tc.n || s.Height != tc.height || s.Width != tc.width || s.Channels != tc.channels {
						t.Fatalf("reading back what was written: %v", err)
					}
					return
				case err == nil || !strings.Contains(err.Error(), tc.wantErr):
					t.Errorf("WriteSplitFile: error %v, want one containing %q", err, tc.wantErr)
				}
				if entries, _ := os.ReadDir(dir); len(entries) != 0 {
					t.Errorf("a refused split left %s behind", entries[0].Name())
				}
			}
			if err := os.WriteFile(path, splitHeader(tc.n, tc.height, tc.width, tc.channels), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadSplitFile(path, "")
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ReadSplitFile: error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestWriteSplitFileNilImage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "train.bin")
	_, err := WriteSplitFile(path, []uint8{0}, 1, 1, 1, nil)
	if err == nil || !strings.Contains(err.Error(), "no image function") {
		t.Errorf("error %v, want one saying there is no image function", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s: %v, want no file", path, err)
	}
}
