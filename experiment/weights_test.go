package experiment

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/extremepoints/esp/models"
)

// TestNorms checks the norms and distances against hand-computed values:
// tensors (3, 4) and (12) give global norm sqrt(9+16+144) = 13 and norm sum 5 + 12 = 17;
// the non-trainable tensor is ignored. Tolerance 1e-12 (exact small integers).
func TestNorms(t *testing.T) {
	w := &Weights{Tensors: []Tensor{
		{Name: "a", Shape: []int{2}, Data: []float32{3, 4}, Trainable: true},
		{Name: "b", Shape: []int{1, 1}, Data: []float32{12}, Trainable: true},
		{Name: "running", Shape: []int{1}, Data: []float32{100}},
	}}
	zero := w.Clone()
	for i := range zero.Tensors {
		for j := range zero.Tensors[i].Data {
			zero.Tensors[i].Data[j] = 0
		}
	}
	// w - w1 = (3-0, 4-1), (12-7): norms 4.2426..., 5: global sqrt(9+9+25) = sqrt(43).
	w1 := zero.Clone()
	w1.Tensors[0].Data[1] = 1
	w1.Tensors[1].Data[0] = 7
	w1.Tensors[2].Data[0] = -5
	d0, s0, err := Distance(w, zero)
	if err != nil {
		t.Fatal(err)
	}
	d1, s1, _ := Distance(w, w1)
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"Norm", w.Norm(), 13},
		{"NormSum", w.NormSum(), 17},
		{"Distance from zero", d0, 13},
		{"Distance sum from zero", s0, 17},
		{"Distance", d1, math.Sqrt(43)},
		{"Distance sum", s1, math.Sqrt(18) + 5},
	} {
		if math.Abs(c.got-c.want) > 1e-12 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if w.NumParameters() != 3 {
		t.Errorf("NumParameters = %d, want 3", w.NumParameters())
	}
	if _, _, err := Distance(w, &Weights{}); err == nil {
		t.Error("Distance of mismatched weights: no error")
	}
}

// TestWeightsRoundTrip saves and loads weights of every model (the ResNet's batch-norm
// running statistics included) and checks values, order, flags and that a net loaded
// from the file evaluates exactly like the original.
func TestWeightsRoundTrip(t *testing.T) {
	backend, err := NewBackend("go")
	if err != nil {
		t.Fatal(err)
	}
	d := synthDataset(16, 16, 8, 8, 1, 3, 7)
	for _, name := range models.Names() {
		t.Run(name, func(t *testing.T) {
			net, err := NewNet(backend, name, models.Config{Classes: 3, Hidden: 8, Blocks: 1}, 8, 8, 1, 42)
			if err != nil {
				t.Fatal(err)
			}
			w, err := net.Weights()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "w.safetensors")
			if err := SaveWeights(path, w); err != nil {
				t.Fatal(err)
			}
			got, err := LoadWeights(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Tensors) != len(w.Tensors) {
				t.Fatalf("%d tensors back, want %d", len(got.Tensors), len(w.Tensors))
			}
			nonTrainable := 0
			for i, want := range w.Tensors {
				g := got.Tensors[i]
				if g.Name != want.Name || g.Trainable != want.Trainable || !slices.Equal(g.Shape, want.Shape) {
					t.Fatalf("tensor %d: got %s %v %v, want %s %v %v", i, g.Name, g.Shape, g.Trainable, want.Name, want.Shape, want.Trainable)
				}
				for j := range want.Data {
					if g.Data[j] != want.Data[j] {
						t.Fatalf("tensor %s[%d] = %v, want %v", want.Name, j, g.Data[j], want.Data[j])
					}
				}
				if !want.Trainable {
					nonTrainable++
				}
			}
			if name == "resnet" && nonTrainable == 0 {
				t.Error("resnet weights hold no batch-norm running statistics")
			}
			loaded, err := LoadNet(backend, path)
			if err != nil {
				t.Fatal(err)
			}
			e1, err := net.Evaluate(d.Test, 5)
			if err != nil {
				t.Fatal(err)
			}
			e2, err := loaded.Evaluate(d.Test, 7)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(e1[0].Loss-e2[0].Loss) > 1e-6 || e1[0].Accuracy != e2[0].Accuracy {
				t.Errorf("loaded net evaluates to %+v, original %+v", e2[0], e1[0])
			}
			// A net with another seed differs until the weights are set.
			other, _ := NewNet(backend, name, models.Config{Classes: 3, Hidden: 8, Blocks: 1}, 8, 8, 1, 43)
			ow, _ := other.Weights()
			if dist, _, _ := Distance(ow, w); dist == 0 {
				t.Error("different seeds gave the same initialization")
			}
			if err := other.SetWeights(got); err != nil {
				t.Fatal(err)
			}
			ow, _ = other.Weights()
			if dist, _, _ := Distance(ow, w); dist != 0 {
				t.Errorf("after SetWeights, distance %g", dist)
			}
		})
	}
	if _, err := LoadWeights(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("loading a missing file: no error")
	}
	if _, err := DecodeWeights([]byte{1, 2, 3}); err == nil {
		t.Error("decoding garbage: no error")
	}
}

// TestWeightsChecksum flips bytes of a saved weights file: a change in its values or its
// header is refused with ErrCorruptWeights, and a file without the checksum (written
// elsewhere) still loads.
func TestWeightsChecksum(t *testing.T) {
	w := &Weights{Tensors: []Tensor{
		{Name: "dense/weights", Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, 6}, Trainable: true},
		{Name: "dense/biases", Shape: []int{3}, Data: []float32{-1, 0, 1}, Trainable: true},
	}, Metadata: map[string]string{"model": "mlp"}}
	data, err := w.Encode()
	if err != nil {
		t.Fatal(err)
	}
	headerLen := int(binary.LittleEndian.Uint64(data))
	dataStart := 8 + headerLen
	withoutChecksum := func() []byte {
		var header map[string]any
		if err := json.Unmarshal(data[8:dataStart], &header); err != nil {
			t.Fatal(err)
		}
		delete(header["__metadata__"].(map[string]any), WeightsChecksumKey)
		hdr, _ := json.Marshal(header)
		out := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
		return append(append(out, hdr...), data[dataStart:]...)
	}
	tests := []struct {
		name    string
		file    func() []byte
		wantErr error
	}{
		{"as written", func() []byte { return data }, nil},
		{"first data byte flipped", func() []byte {
			d := slices.Clone(data)
			d[dataStart] ^= 1
			return d
		}, ErrCorruptWeights},
		{"last data byte flipped", func() []byte {
			d := slices.Clone(data)
			d[len(d)-1] ^= 0x80
			return d
		}, ErrCorruptWeights},
		{"a byte of the header's model name flipped", func() []byte { return flipAt(data, `"model":"mlp"`, 9) }, ErrCorruptWeights},
		{"a byte of the trainable list flipped", func() []byte { return flipAt(data, `"non_trainable":`, 2) }, ErrCorruptWeights},
		{"a digit of the checksum changed", func() []byte { return flipAt(data, `"sha256":"`, 10) }, ErrCorruptWeights},
		{"the header's JSON broken", func() []byte { return flipAt(data, `{`, 0) }, ErrCorruptWeights},
		{"no checksum recorded", withoutChecksum, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "w.safetensors")
			if err := os.WriteFile(path, tt.file(), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := LoadWeights(path)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("LoadWeights: error %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if !strings.Contains(err.Error(), path) {
					t.Errorf("error %q does not name the file", err)
				}
				return
			}
			if !slices.Equal(got.Tensors[1].Data, w.Tensors[1].Data) {
				t.Errorf("biases %v, want %v", got.Tensors[1].Data, w.Tensors[1].Data)
			}
		})
	}
	// Weights read back and written again get a fresh checksum, not the old one.
	got, err := DecodeWeights(data)
	if err != nil {
		t.Fatal(err)
	}
	got.Tensors[0].Data[0] = 7
	again, err := got.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeWeights(again); err != nil {
		t.Errorf("re-encoded weights: %v", err)
	}
}

// TestReadWeightsMetadata: the header alone gives the metadata LoadWeights would; a file
// too short, a header longer than the file, or a broken header is refused, naming the
// file; data changed after the header is not looked at.
func TestReadWeightsMetadata(t *testing.T) {
	w := &Weights{Tensors: []Tensor{{Name: "dense/weights", Shape: []int{2}, Data: []float32{1, 2}, Trainable: true}},
		Metadata: map[string]string{"model": "mlp", "model_config": `{"hidden":8}`}}
	data, err := w.Encode()
	if err != nil {
		t.Fatal(err)
	}
	headerLen := binary.LittleEndian.Uint64(data)
	tests := []struct {
		name    string
		file    []byte
		wantErr bool
	}{
		{"as written", data, false},
		{"data changed", append(slices.Clone(data[:len(data)-1]), data[len(data)-1]^0xff), false},
		{"too short", data[:5], true},
		{"header longer than the file", data[:8+headerLen-1], true},
		{"the header's JSON broken", flipAt(data, `{`, 0), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "w.safetensors")
			if err := os.WriteFile(path, tt.file, 0o644); err != nil {
				t.Fatal(err)
			}
			meta, err := ReadWeightsMetadata(path)
			if tt.wantErr {
				if !errors.Is(err, ErrCorruptWeights) || !strings.Contains(err.Error(), path) {
					t.Errorf("error %v, want %v naming %s", err, ErrCorruptWeights, path)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if meta["model"] != "mlp" || meta["model_config"] != `{"hidden":8}` || meta["format"] != WeightsFormat {
				t.Errorf("metadata %v", meta)
			}
		})
	}
	if _, err := ReadWeightsMetadata(filepath.Join(t.TempDir(), "missing.safetensors")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
}

// flipAt returns a copy of data with the byte offset bytes into the first occurrence of
// marker inverted.
func flipAt(data []byte, marker string, offset int) []byte {
	d := slices.Clone(data)
	d[bytes.Index(d, []byte(marker))+offset] ^= 0xff
	return d
}

// safetensorsFile assembles a file from its JSON header and its body, as another program
// (or damage) might have written it: no checksum.
func safetensorsFile(t *testing.T, header map[string]any, body []byte) []byte {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	return append(append(out, h...), body...)
}

// TestDecodeWeightsDamagedHeaders: shapes no tensor has are refused, not read as small
// tensors by overflowing, and an "order" that is not a permutation of the tensors falls
// back to the offsets' order instead of dropping or repeating tensors.
func TestDecodeWeightsDamagedHeaders(t *testing.T) {
	body := make([]byte, 16)
	entry := func(shape []int, begin, end int) map[string]any {
		return map[string]any{"dtype": "F32", "shape": shape, "data_offsets": []int{begin, end}}
	}
	tests := []struct {
		name      string
		header    map[string]any
		wantErr   string
		wantNames []string
	}{
		{"negative dimensions", map[string]any{"a": entry([]int{-2, -2}, 0, 16)}, "bad offsets", nil},
		{"overflowing shape", map[string]any{"a": entry([]int{1 << 32, 1 << 32}, 0, 0)}, "bad offsets", nil},
		{"order repeats a tensor", map[string]any{"a": entry([]int{2}, 0, 8), "b": entry([]int{2}, 8, 16),
			"__metadata__": map[string]string{"order": `["a","a"]`}}, "", []string{"a", "b"}},
		{"order names another tensor", map[string]any{"a": entry([]int{2}, 0, 8), "b": entry([]int{2}, 8, 16),
			"__metadata__": map[string]string{"order": `["b","c"]`}}, "", []string{"a", "b"}},
		{"order kept", map[string]any{"a": entry([]int{2}, 0, 8), "b": entry([]int{2}, 8, 16),
			"__metadata__": map[string]string{"order": `["b","a"]`}}, "", []string{"b", "a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := DecodeWeights(safetensorsFile(t, tc.header, body))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, x := range w.Tensors {
				names = append(names, x.Name)
			}
			if !slices.Equal(names, tc.wantNames) {
				t.Errorf("tensors %v, want %v", names, tc.wantNames)
			}
		})
	}
}

// TestSetWeightsChecksValues: weights built by hand whose values do not fill their shape
// are an error, not a panic inside GoMLX.
func TestSetWeightsChecksValues(t *testing.T) {
	backend, err := NewBackend("go")
	if err != nil {
		t.Fatal(err)
	}
	net, err := NewNet(backend, "mlp", models.Config{Classes: 3, Hidden: 4}, 2, 2, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	w, err := net.Weights()
	if err != nil {
		t.Fatal(err)
	}
	w.Tensors[0].Data = w.Tensors[0].Data[1:]
	if err := net.SetWeights(w); err == nil || !strings.Contains(err.Error(), "values") {
		t.Errorf("err %v, want one saying the values do not fill the shape", err)
	}
}
