package experiment

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/extremepoints/esp/datasets"
)

// WeightsFormat is the "format" metadata value of the weights files this package writes.
const WeightsFormat = "esp-weights/1"

// WeightsChecksumKey is the metadata key holding the SHA-256 of the whole weights file as
// it would be with this value all zeros: safetensors has no checksum of its own, and a
// flipped bit in a float (or in the header's list of trainable tensors) would otherwise
// load as another point. It also tells two weights files apart by their headers alone.
const WeightsChecksumKey = "sha256"

// checksumPlaceholder stands for the checksum while it is computed; the digest has the
// same length, so writing it in moves nothing.
var checksumPlaceholder = strings.Repeat("0", 2*sha256.Size)

// ErrCorruptWeights is returned for a weights file whose data no longer matches the
// checksum written with it.
var ErrCorruptWeights = errors.New("weights file damaged")

// Tensor is one named parameter or state tensor of a model, on the host.
type Tensor struct {
	// Name is the variable's path inside the model scope, e.g. "dense_0/weights".
	Name  string
	Shape []int
	// Data holds the values, row-major.
	Data []float32
	// Trainable is false for state such as batch-norm running statistics.
	Trainable bool
}

// Weights is a snapshot of a model's variables, in the model's creation order.
type Weights struct {
	Tensors []Tensor
	// Metadata holds string key/values stored with the weights (see the package
	// documentation for the keys this package sets).
	Metadata map[string]string
}

// Clone returns a deep copy of w.
func (w *Weights) Clone() *Weights {
	out := &Weights{Tensors: make([]Tensor, len(w.Tensors)), Metadata: make(map[string]string, len(w.Metadata))}
	for i, t := range w.Tensors {
		t.Shape = append([]int(nil), t.Shape...)
		t.Data = append([]float32(nil), t.Data...)
		out.Tensors[i] = t
	}
	for k, v := range w.Metadata {
		out.Metadata[k] = v
	}
	return out
}

// Tensor returns the named tensor, or nil.
func (w *Weights) Tensor(name string) *Tensor {
	for i := range w.Tensors {
		if w.Tensors[i].Name == name {
			return &w.Tensors[i]
		}
	}
	return nil
}

// NumParameters returns the number of trainable scalars.
func (w *Weights) NumParameters() int {
	n := 0
	for _, t := range w.Tensors {
		if t.Trainable {
			n += len(t.Data)
		}
	}
	return n
}

// Norm returns the global L2 norm over all trainable tensors: sqrt(Σ w²).
func (w *Weights) Norm() float64 {
	var sum float64
	for _, t := range w.Tensors {
		if t.Trainable {
			sum += sumSquares(t.Data, nil)
		}
	}
	return math.Sqrt(sum)
}

// NormSum returns the sum over trainable tensors of their Frobenius norms: the
// authors' "weight norm".
func (w *Weights) NormSum() float64 {
	var sum float64
	for _, t := range w.Tensors {
		if t.Trainable {
			sum += math.Sqrt(sumSquares(t.Data, nil))
		}
	}
	return sum
}

// Distance returns the global L2 distance between the trainable tensors of a and b,
// and the sum over tensors of the Frobenius norms of their differences. The two must
// hold the same tensors (names and shapes).
func Distance(a, b *Weights) (l2, sum float64, err error) {
	if err := CheckSameTensors(a, b); err != nil {
		return 0, 0, err
	}
	var total float64
	for i, ta := range a.Tensors {
		tb := b.Tensors[i]
		if !ta.Trainable {
			continue
		}
		s := sumSquares(ta.Data, tb.Data)
		total += s
		sum += math.Sqrt(s)
	}
	return math.Sqrt(total), sum, nil
}

// sumSquares returns Σ (a-b)² (b may be nil), accumulated in float64.
func sumSquares(a, b []float32) float64 {
	var s float64
	if b == nil {
		for _, v := range a {
			s += float64(v) * float64(v)
		}
		return s
	}
	for i, v := range a {
		d := float64(v) - float64(b[i])
		s += d * d
	}
	return s
}

type safetensorsEntry struct {
	DType       string `json:"dtype"`
	Shape       []int  `json:"shape"`
	DataOffsets [2]int `json:"data_offsets"`
}

// Encode returns w in the safetensors format (see the package documentation).
func (w *Weights) Encode() ([]byte, error) {
	header := make(map[string]any, len(w.Tensors)+1)
	meta := make(map[string]string, len(w.Metadata)+2)
	for k, v := range w.Metadata {
		meta[k] = v
	}
	meta["format"] = WeightsFormat
	var nonTrainable, order []string
	offset := 0
	for _, t := range w.Tensors {
		if t.Name == "" || t.Name == "__metadata__" {
			return nil, fmt.Errorf("experiment: invalid tensor name %q", t.Name)
		}
		if _, dup := header[t.Name]; dup {
			return nil, fmt.Errorf("experiment: duplicate tensor %q", t.Name)
		}
		if n := elementCount(t.Shape); n != len(t.Data) {
			return nil, fmt.Errorf("experiment: tensor %q has shape %v but %d values", t.Name, t.Shape, len(t.Data))
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		header[t.Name] = safetensorsEntry{"F32", shape, [2]int{offset, offset + 4*len(t.Data)}}
		offset += 4 * len(t.Data)
		if !t.Trainable {
			nonTrainable = append(nonTrainable, t.Name)
		}
		order = append(order, t.Name)
	}
	js, _ := json.Marshal(nonTrainable)
	meta["non_trainable"] = string(js)
	js, _ = json.Marshal(order)
	meta["order"] = string(js)
	meta[WeightsChecksumKey] = checksumPlaceholder
	header["__metadata__"] = meta
	hdr, err := json.Marshal(header)
	if err != nil {
		return nil, err
	}
	// Pad the header with spaces so the data starts 8-byte aligned (as the reference
	// implementation does).
	for (8+len(hdr))%8 != 0 {
		hdr = append(hdr, ' ')
	}
	buf := make([]byte, 8, 8+len(hdr)+offset)
	binary.LittleEndian.PutUint64(buf, uint64(len(hdr)))
	buf = append(buf, hdr...)
	for _, t := range w.Tensors {
		for _, v := range t.Data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
	}
	sum := sha256.Sum256(buf)
	copy(buf[8+checksumAt(hdr, checksumPlaceholder):], hex.EncodeToString(sum[:]))
	return buf, nil
}

// checksumAt returns where in a weights file's header the checksum's value starts, given
// that value, or -1.
func checksumAt(header []byte, value string) int {
	field := `"` + WeightsChecksumKey + `":"`
	at := bytes.Index(header, []byte(field+value+`"`))
	if at < 0 {
		return -1
	}
	return at + len(field)
}

// checkChecksum verifies a weights file's checksum, recorded as want in its header.
func checkChecksum(data []byte, headerLen int, want string) error {
	at := checksumAt(data[8:8+headerLen], want)
	if len(want) != len(checksumPlaceholder) || at < 0 {
		return fmt.Errorf("experiment: %w: its checksum %q is not one this package writes", ErrCorruptWeights, want)
	}
	zeroed := bytes.Clone(data)
	copy(zeroed[8+at:], checksumPlaceholder)
	sum := sha256.Sum256(zeroed)
	if got := hex.EncodeToString(sum[:]); got != want {
		return fmt.Errorf("experiment: %w: it has sha256 %s, its header records %s (changed after it was written: restore the file, or train the run again)",
			ErrCorruptWeights, got, want)
	}
	return nil
}

// DecodeWeights parses weights in the safetensors format. Tensors come back in the
// order recorded in the metadata ("order"), else sorted by data offset.
func DecodeWeights(data []byte) (*Weights, error) {
	if len(data) < 8 {
		return nil, errors.New("experiment: weights file too short")
	}
	n := binary.LittleEndian.Uint64(data)
	if n > uint64(len(data)-8) {
		return nil, fmt.Errorf("experiment: weights header of %d bytes in a %d-byte file", n, len(data))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(bytes.TrimRight(data[8:8+n], " "), &raw); err != nil {
		return nil, fmt.Errorf("experiment: %w: its header: %v", ErrCorruptWeights, err)
	}
	body := data[8+n:]
	w := &Weights{Metadata: map[string]string{}}
	if m, ok := raw["__metadata__"]; ok {
		if err := json.Unmarshal(m, &w.Metadata); err != nil {
			return nil, fmt.Errorf("experiment: %w: its metadata: %v", ErrCorruptWeights, err)
		}
		delete(raw, "__metadata__")
	}
	if want, ok := w.Metadata[WeightsChecksumKey]; ok {
		if err := checkChecksum(data, int(n), want); err != nil {
			return nil, err
		}
	}
	nonTrainable := map[string]bool{}
	if s := w.Metadata["non_trainable"]; s != "" {
		var names []string
		if err := json.Unmarshal([]byte(s), &names); err != nil {
			return nil, fmt.Errorf("experiment: weights metadata non_trainable: %w", err)
		}
		for _, name := range names {
			nonTrainable[name] = true
		}
	}
	entries := make(map[string]safetensorsEntry, len(raw))
	for name, r := range raw {
		var e safetensorsEntry
		if err := json.Unmarshal(r, &e); err != nil {
			return nil, fmt.Errorf("experiment: weights entry %q: %w", name, err)
		}
		if e.DType != "F32" {
			return nil, fmt.Errorf("experiment: tensor %q has dtype %s, only F32 is supported", name, e.DType)
		}
		b, end := e.DataOffsets[0], e.DataOffsets[1]
		if n := elementCount(e.Shape); n < 0 || b < 0 || end < b || end > len(body) || end-b != 4*n {
			return nil, fmt.Errorf("experiment: tensor %q: bad offsets %v for shape %v", name, e.DataOffsets, e.Shape)
		}
		entries[name] = e
	}
	var order []string
	if s := w.Metadata["order"]; s != "" {
		if err := json.Unmarshal([]byte(s), &order); err != nil || !isPermutation(order, entries) {
			order = nil // the offsets' order then: every tensor is read once
		}
	}
	if order == nil {
		for name := range entries {
			order = append(order, name)
		}
		sort.Slice(order, func(i, j int) bool { return entries[order[i]].DataOffsets[0] < entries[order[j]].DataOffsets[0] })
	}
	for _, name := range order {
		e := entries[name]
		vals := make([]float32, elementCount(e.Shape))
		src := body[e.DataOffsets[0]:e.DataOffsets[1]]
		for i := range vals {
			vals[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
		w.Tensors = append(w.Tensors, Tensor{Name: name, Shape: e.Shape, Data: vals, Trainable: !nonTrainable[name]})
	}
	return w, nil
}

// ReadWeightsMetadata returns the metadata of the weights file at path, read from its
// header alone: its tensors are neither read nor checked against the file's checksum
// (LoadWeights does both), so that what many runs' weights are can be checked cheaply.
func ReadWeightsMetadata(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var size [8]byte
	if _, err := io.ReadFull(f, size[:]); err != nil {
		return nil, fmt.Errorf("%s: experiment: %w: too short for a weights file", path, ErrCorruptWeights)
	}
	n := binary.LittleEndian.Uint64(size[:])
	if n > uint64(st.Size()-8) {
		return nil, fmt.Errorf("%s: experiment: %w: a header of %d bytes in a %d-byte file", path, ErrCorruptWeights, n, st.Size())
	}
	header := make([]byte, n)
	if _, err := io.ReadFull(f, header); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var raw struct {
		Metadata map[string]string `json:"__metadata__"`
	}
	if err := json.Unmarshal(bytes.TrimRight(header, " "), &raw); err != nil {
		return nil, fmt.Errorf("%s: experiment: %w: its header: %v", path, ErrCorruptWeights, err)
	}
	if raw.Metadata == nil {
		raw.Metadata = map[string]string{}
	}
	return raw.Metadata, nil
}

// SaveWeights writes w to path atomically (temp file in the same folder + rename).
func SaveWeights(path string, w *Weights) error {
	data, err := w.Encode()
	if err != nil {
		return err
	}
	return writeFileAtomic(path, data)
}

// LoadWeights reads weights written by SaveWeights (or any float32 safetensors file).
func LoadWeights(path string) (*Weights, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	w, err := DecodeWeights(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return w, nil
}

// elementCount is the number of values a tensor of shape dims holds, or -1 for a shape
// no tensor can have (a negative dimension, or more values than an int counts): a
// damaged file's header must not pass for a small tensor by overflowing.
func elementCount(dims []int) int {
	n := 1
	for _, d := range dims {
		if d < 0 || (d > 0 && n > math.MaxInt/4/d) {
			return -1
		}
		n *= d
	}
	return n
}

// isPermutation reports whether order names every tensor of entries once.
func isPermutation(order []string, entries map[string]safetensorsEntry) bool {
	if len(order) != len(entries) {
		return false
	}
	seen := make(map[string]bool, len(order))
	for _, name := range order {
		if _, ok := entries[name]; !ok || seen[name] {
			return false
		}
		seen[name] = true
	}
	return true
}

// writeFileAtomic writes through a temporary file and a rename (datasets.WriteFileAtomic).
func writeFileAtomic(path string, data []byte) error {
	if err := datasets.WriteFileAtomic(path, data); err != nil {
		return fmt.Errorf("experiment: writing %s: %w", path, err)
	}
	return nil
}

// ErrNonFiniteWeights is returned for weights holding NaN or infinity.
var ErrNonFiniteWeights = errors.New("the weights are not all finite")

// CheckFinite returns an error wrapping ErrNonFiniteWeights, naming the first tensor and
// index, when a value is NaN or infinite (a diverged run's weights).
func (w *Weights) CheckFinite() error {
	for _, t := range w.Tensors {
		for i, v := range t.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("%w: tensor %s holds %v at index %d", ErrNonFiniteWeights, t.Name, v, i)
			}
		}
	}
	return nil
}
