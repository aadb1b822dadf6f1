package torchstate

import (
	"archive/zip"
	"bytes"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nlpodyssey/gopickle/types"

	"github.com/extremepoints/esp/experiment"
)

// TestElements: tensor shapes are checked before anything is allocated for them.
func TestElements(t *testing.T) {
	tests := []struct {
		size    []int
		want    int
		wantErr string
	}{
		{[]int{512, 784}, 512 * 784, ""},
		{[]int{}, 1, ""},
		{[]int{3, 0, 5}, 0, ""},
		{[]int{-1, 4}, 0, "negative dimension"},
		{[]int{1 << 33}, 0, "more than"},
		{[]int{1<<62 + 1, 1, 1, 4}, 0, "more than"}, // the product overflows to 4
	}
	for _, tc := range tests {
		n, err := elements(tc.size)
		if tc.wantErr == "" && (err != nil || n != tc.want) || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("elements(%v) = %d, %v; want %d, %q", tc.size, n, err, tc.want, tc.wantErr)
		}
	}
}

// TestSelfReferentialCheckpoint: a checkpoint dictionary whose "state_dict" is itself (a
// valid torch.save) is refused instead of recursing until the stack overflows.
func TestSelfReferentialCheckpoint(t *testing.T) {
	d := types.NewDict()
	d.Set("state_dict", d)
	if _, err := stateDictEntries(d, 0); err == nil || !strings.Contains(err.Error(), "holds another checkpoint") {
		t.Errorf("error %v", err)
	}
}

// TestWeightsLength: a tensor whose values do not fill its shape is refused, not read
// past its end.
func TestWeightsLength(t *testing.T) {
	sd := &StateDict{Tensors: []Tensor{{Name: "conv.weight", Shape: []int{2, 1, 1, 4}, Data: make([]float32, 4)}}}
	template := &experiment.Weights{Tensors: []experiment.Tensor{{Name: "conv/weights", Shape: []int{2, 1, 4, 1}, Data: make([]float32, 8)}}}
	if _, _, err := Weights(sd, template); err == nil || !strings.Contains(err.Error(), `"conv.weight" has shape [2 1 1 4] but 4 values`) {
		t.Errorf("error %v", err)
	}
}

// TestCheckpointKeys: a checkpoint dictionary's state dict is found under any of
// checkpointKeys when it is a dictionary, beside an optimizer's state; another entry is
// named in Python's terms.
func TestCheckpointKeys(t *testing.T) {
	sd := types.NewOrderedDict()
	sd.Set("fc.weight", "w")
	for _, key := range checkpointKeys {
		ckpt := types.NewDict()
		ckpt.Set("optimizer", types.NewDict())
		ckpt.Set(key, sd)
		entries, err := stateDictEntries(ckpt, 0)
		if err != nil || len(entries) != 1 || entries[0].name != "fc.weight" {
			t.Errorf("under %q: %v, %v", key, entries, err)
		}
	}
	notDict := types.NewDict()
	notDict.Set("model", "a name")
	if entries, err := stateDictEntries(notDict, 0); err != nil || len(entries) != 1 || pythonKind(entries[0].value) != "a string" {
		t.Errorf("a string under \"model\": %v, %v", entries, err)
	}
}

// TestCheckPickleLengths: lengths a pickle's opcodes give must fit in it, since the
// unpickler allocates them before it reads; a well-formed pickle passes.
func TestCheckPickleLengths(t *testing.T) {
	huge := []byte{0, 0, 0, 0, 0, 1, 0, 0} // 2^40, little-endian
	tests := []struct {
		name    string
		pickle  []byte
		wantErr string
	}{
		{"an empty dict", []byte("\x80\x02}q\x00."), ""},
		{"text opcodes", []byte("\x80\x02(I42\ncos\nsystem\nt."), ""},
		{"a frame", append(append([]byte("\x80\x04\x95"), 3, 0, 0, 0, 0, 0, 0, 0), "}q\x00."...), ""},
		{"a frame of 2^40 bytes", append(append([]byte("\x80\x04\x95"), huge...), "}."...), "a length of 1099511627776"},
		{"BINBYTES8 of 2^40 bytes", append(append([]byte("\x80\x04\x8e"), huge...), '.'), "a length of 1099511627776"},
		{"BINUNICODE past the end", []byte("\x80\x02X\xff\x00\x00\x00ab."), "needs 259 bytes"},
		{"no STOP", []byte("\x80\x02}q\x00"), "ends before its STOP"},
		{"an unknown opcode", []byte("\x80\x02\xff."), "unknown pickle opcode 0xff"},
	}
	for _, tc := range tests {
		err := checkPickleLengths(tc.pickle)
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.wantErr)
		}
	}
}

// TestLoadZipRecordSizes: a zip whose data record is shorter than the storage its pickle
// declares (gopickle loaded it with stale values) is refused, naming both sizes.
func TestLoadZipRecordSizes(t *testing.T) {
	r, err := zip.OpenReader(filepath.Join("testdata", "mlp_zip_f64.pt"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out bytes.Buffer
	w := zip.NewWriter(&out)
	cut := ""
	for _, f := range r.File {
		data, err := readRecord(f, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if dir, _ := path.Split(f.Name); strings.HasSuffix(dir, "/data/") && cut == "" {
			data, cut = data[:len(data)-8], f.Name
		}
		fw, err := w.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(data)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "short.pt")
	if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(file)
	if err == nil || !strings.Contains(err.Error(), "declares") || !strings.Contains(err.Error(), "its record holds") {
		t.Errorf("a record cut by 8 bytes (%s): %v", cut, err)
	}
}

// TestHolds: a storage's declared count must be its record's size over its width,
// including where count times width wraps around to the size.
func TestHolds(t *testing.T) {
	tests := []struct {
		size     uint64
		elements int
		width    int64
		want     bool
	}{
		{50176, 12544, 4, true},
		{50168, 12544, 4, false},
		{0, 0, 8, true},
		{0, 1 << 61, 8, false}, // 2^61·8 wraps to 0
		{6, 1, 4, false},
		{8, -2, 4, false},
		{8, 2, 0, false},
	}
	for _, tc := range tests {
		if got := holds(tc.size, tc.elements, tc.width); got != tc.want {
			t.Errorf("holds(%d, %d, %d) = %v, want %v", tc.size, tc.elements, tc.width, got, tc.want)
		}
	}
}
