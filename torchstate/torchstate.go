// Package torchstate reads PyTorch state dicts, the files torch.save(model.state_dict())
// writes (the legacy format of PyTorch before 1.6 and the zip format after), and maps
// them onto esp's models. With it a point trained elsewhere, such as the extreme points
// the paper's authors published with their code, becomes an esp run directory that
// every probe can start from.
//
// esp's MLP and LeNet are the authors' models (LeNet with two convolutions and fc 64 is
// the smaller CNN of their "AlexNet" folder), and its ResNet is theirs with 3x3
// projection shortcuts (models.Config.Shortcut3x3) and global average pooling (their
// AvgPool2d(8) over CIFAR-10's last 8x8 maps). The PyTorch tensors come in the same order
// as esp's variables, batch normalization's weight, bias, running mean and running
// variance as esp's scale, offset and running statistics, and only convolution kernels
// change layout (PyTorch's [out, in, kh, kw] to esp's [out, kh, kw, in]). LeNet's
// flattening before the dense layers agrees too: both take channels first. The MLP's
// does not for color images: esp's flattens NHWC images (a pixel's channels together),
// PyTorch's NCHW tensors (one channel's plane after another), so the columns of an MLP's
// first weight matrix are reordered on import.
package torchstate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"slices"
	"strings"

	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"

	"github.com/extremepoints/esp/experiment"
	"github.com/extremepoints/esp/models"
)

// File formats of torch.save.
const (
	FormatLegacy = "pytorch-legacy" // PyTorch before 1.6, or _use_new_zipfile_serialization=False
	FormatZip    = "pytorch-zip"
)

// Tensor is one floating-point tensor of a state dict, converted to float32.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
	// DType is PyTorch's storage type: "float32", "float64", "float16" or "bfloat16".
	DType string
}

// StateDict is a state dict's floating-point tensors in their saved order.
type StateDict struct {
	Tensors []Tensor
	// Skipped names the tensors that are not floating point (such as batch
	// normalization's num_batches_tracked counters): no model variable takes them.
	Skipped []string
	Format  string
}

// Load reads a state dict saved by torch.save. A checkpoint dictionary holding the
// state dict under "state_dict", "model_state_dict", "model" or "net" (beside an
// optimizer's state, say) is accepted too.
func Load(path string) (sd *StateDict, err error) {
	format, err := fileFormat(path)
	if err != nil {
		return nil, err
	}
	defer func() { // the unpickler panics on some malformed files
		if r := recover(); r != nil {
			sd, err = nil, fmt.Errorf("%s: not a PyTorch state dict: %v", path, r)
		}
	}()
	load := loadLegacy
	if format == FormatZip {
		load = loadZip
	}
	obj, err := load(path)
	if errors.Is(err, errUnknownClass) {
		return nil, fmt.Errorf("%s: %w: the file pickles an object of a class only its own code defines (a whole model?): save model.state_dict(), not the model", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: not a PyTorch state dict saved by torch.save: %w", path, err)
	}
	entries, err := stateDictEntries(obj, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	sd = &StateDict{Format: format}
	for _, e := range entries {
		t, ok := e.value.(*pytorch.Tensor)
		if !ok {
			return nil, fmt.Errorf("%s: entry %q is %s, not a tensor (a checkpoint holds its state dict under one of %s)",
				path, e.name, pythonKind(e.value), strings.Join(checkpointKeys, ", "))
		}
		data, dtype, err := floats(t)
		if err != nil {
			return nil, fmt.Errorf("%s: tensor %q: %w", path, e.name, err)
		}
		if data == nil {
			sd.Skipped = append(sd.Skipped, e.name)
			continue
		}
		sd.Tensors = append(sd.Tensors, Tensor{Name: e.name, Shape: slices.Clone(t.Size), Data: data, DType: dtype})
	}
	if len(sd.Tensors) == 0 {
		return nil, fmt.Errorf("%s: the state dict holds no floating-point tensors", path)
	}
	return sd, nil
}

// fileFormat tells the zip format (a zip archive) from the legacy one (a pickle stream).
func fileFormat(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("reading PyTorch state dict: %w", err)
	}
	defer f.Close()
	head := make([]byte, 4)
	if _, err := io.ReadFull(f, head); err != nil {
		return "", fmt.Errorf("%s: not a PyTorch state dict (%d bytes)", path, fileSize(f))
	}
	if bytes.Equal(head, []byte("PK\x03\x04")) {
		return FormatZip, nil
	}
	if head[0] != 0x80 { // a pickle stream starts with the PROTO opcode
		return "", fmt.Errorf("%s: not a PyTorch state dict: neither a zip archive nor a pickle stream", path)
	}
	return FormatLegacy, nil
}

func fileSize(f *os.File) int64 {
	if st, err := f.Stat(); err == nil {
		return st.Size()
	}
	return 0
}

type entry struct {
	name  string
	value any
}

// checkpointKeys are the keys under which a checkpoint dictionary holds the model's state
// dict, in the order they are looked for.
var checkpointKeys = []string{"state_dict", "model_state_dict", "model", "net"}

func isDict(v any) bool {
	switch v.(type) {
	case *types.OrderedDict, *types.Dict:
		return true
	}
	return false
}

// pythonKind names what an unpickled value is, in Python's terms, for messages.
func pythonKind(v any) string {
	switch v.(type) {
	case *types.OrderedDict, *types.Dict:
		return "a dictionary"
	case *types.List:
		return "a list"
	case *types.Tuple:
		return "a tuple"
	case int, int64, float64, *big.Int:
		return "a number"
	case string:
		return "a string"
	case nil:
		return "None"
	}
	return fmt.Sprintf("an object (%T)", v)
}

// stateDictEntries returns the (name, value) pairs of an unpickled state dict in order.
// depth counts the checkpoint dictionaries descended into: one holds the state dict, and
// a dictionary holding itself must not recurse for ever.
func stateDictEntries(obj any, depth int) ([]entry, error) {
	var out []entry
	switch d := obj.(type) {
	case *types.OrderedDict:
		for el := d.List.Front(); el != nil; el = el.Next() {
			e := el.Value.(*types.OrderedDictEntry)
			out = append(out, entry{fmt.Sprint(e.Key), e.Value})
		}
	case *types.Dict:
		for _, e := range *d {
			out = append(out, entry{fmt.Sprint(e.Key), e.Value})
		}
	default:
		return nil, fmt.Errorf("the file holds %s, not a state dict (save model.state_dict(), not the model)", pythonKind(obj))
	}
	for _, key := range checkpointKeys {
		for _, e := range out {
			if e.name != key || !isDict(e.value) {
				continue
			}
			if depth > 0 {
				return nil, fmt.Errorf("the checkpoint's %q holds another checkpoint, not a state dict", key)
			}
			return stateDictEntries(e.value, depth+1)
		}
	}
	return out, nil
}

// floats returns t's values in row-major order as float32, or nil for a tensor
// that is not floating point.
func floats(t *pytorch.Tensor) ([]float32, string, error) {
	var at func(i int) float32
	var dtype string
	var length int
	switch s := t.Source.(type) {
	case *pytorch.FloatStorage:
		at, dtype, length = func(i int) float32 { return s.Data[i] }, "float32", len(s.Data)
	case *pytorch.DoubleStorage:
		at, dtype, length = func(i int) float32 { return float32(s.Data[i]) }, "float64", len(s.Data)
	case *pytorch.HalfStorage:
		at, dtype, length = func(i int) float32 { return s.Data[i] }, "float16", len(s.Data)
	case *pytorch.BFloat16Storage:
		at, dtype, length = func(i int) float32 { return s.Data[i] }, "bfloat16", len(s.Data)
	default:
		return nil, "", nil
	}
	if len(t.Stride) != len(t.Size) {
		return nil, "", fmt.Errorf("%d strides for %d dimensions", len(t.Stride), len(t.Size))
	}
	n, err := elements(t.Size)
	if err != nil {
		return nil, "", err
	}
	out := make([]float32, n)
	index := make([]int, len(t.Size))
	for i := range out {
		off := t.StorageOffset
		for k, v := range index {
			off += v * t.Stride[k]
		}
		if off < 0 || off >= length {
			return nil, "", fmt.Errorf("element %d lies outside its storage of %d values", i, length)
		}
		out[i] = at(off)
		for k := len(index) - 1; k >= 0; k-- { // next index, last dimension fastest
			if index[k]++; index[k] < t.Size[k] {
				break
			}
			index[k] = 0
		}
	}
	return out, dtype, nil
}

// maxElements bounds a tensor's values, far above any model's largest tensor: a shape
// beyond it is a damaged or crafted file, not a reason to allocate.
const maxElements = 1 << 28

// elements returns the number of values of a tensor of shape size, refusing negative
// dimensions and counts that overflow or exceed maxElements.
func elements(size []int) (int, error) {
	n := 1
	for _, d := range size {
		if d < 0 {
			return 0, fmt.Errorf("shape %v has a negative dimension", size)
		}
		if d > 0 && n > maxElements/d {
			return 0, fmt.Errorf("shape %v has more than %d values: a damaged file", size, maxElements)
		}
		n *= d
	}
	return n, nil
}

// Models lists the models whose PyTorch twins this package maps.
func Models() []string { return []string{"lenet", "mlp", "resnet"} }

// ModelConfig returns the configuration of model that sd's tensors fit, for a dataset
// of the given number of classes: the MLP's hidden width and LeNet's first fully
// connected width are read from the first matrix (the first dense layer's weights),
// LeNet's number of convolutions from its kernels;
// the ResNet's blocks per stage from the number of convolution kernels, and whether its
// shortcuts are 3x3 from the first shortcut's kernel.
func ModelConfig(model string, sd *StateDict, classes int) (models.Config, error) {
	if !slices.Contains(Models(), model) {
		return models.Config{}, fmt.Errorf("cannot map a PyTorch state dict onto model %q: valid models are %v", model, Models())
	}
	config := models.Config{Classes: classes}
	if model == "resnet" {
		return resNetConfig(sd, config)
	}
	if model == "lenet" {
		for _, t := range sd.Tensors {
			if len(t.Shape) == 4 {
				config.Convs++
			}
		}
		if config.Convs < 1 || config.Convs > models.LeNetMaxConvs {
			return models.Config{}, fmt.Errorf("the state dict has %d convolution kernels; esp's LeNet has 1 to %d", config.Convs, models.LeNetMaxConvs)
		}
	}
	for _, t := range sd.Tensors {
		if len(t.Shape) == 2 {
			if model == "mlp" {
				config.Hidden = t.Shape[0]
			} else {
				config.FCHidden = t.Shape[0]
			}
			return config.WithDefaults(), nil
		}
	}
	return models.Config{}, fmt.Errorf("the state dict has no matrix (no dense layer), model %s has two", model)
}

// resNetConfig reads a ResNet's blocks per stage and shortcut kernel from its
// convolution kernels: a stem, two per block in each of 3 stages, and a projection
// shortcut in the first block of the last two stages.
func resNetConfig(sd *StateDict, config models.Config) (models.Config, error) {
	var kernels []Tensor
	for _, t := range sd.Tensors {
		if len(t.Shape) == 4 {
			kernels = append(kernels, t)
		}
	}
	const stages = 3
	blocks := (len(kernels) - 1 - (stages - 1)) / (2 * stages)
	if blocks < 1 || 1+2*stages*blocks+stages-1 != len(kernels) {
		return models.Config{}, fmt.Errorf("the state dict has %d convolution kernels; esp's ResNet has 1, then 2 per block in each of 3 stages, then 2 shortcuts (9, 15, 21, ...)", len(kernels))
	}
	shortcut := kernels[1+2*blocks+2] // after the stem, stage 0 and the first block's two convolutions
	switch kh := shortcut.Shape[2]; kh {
	case 1:
	case 3:
		config.Shortcut3x3 = true
	default:
		return models.Config{}, fmt.Errorf("the first shortcut %q has a %dx%d kernel; esp's ResNet has 1x1 or 3x3 shortcuts", shortcut.Name, kh, shortcut.Shape[3])
	}
	config.Blocks = blocks
	return config.WithDefaults(), nil
}

// Weights maps sd onto template, an esp model's weights (Net.Weights gives them): the
// i-th tensor of sd becomes the i-th tensor of template, convolution kernels
// transposed to esp's layout, and for an MLP of images with several channels the first
// weight matrix's columns reordered from PyTorch's channel planes to esp's pixels.
// Counts and shapes must agree; the error names the first tensor that does not. The
// result has template's names and metadata.
func Weights(sd *StateDict, template *experiment.Weights) (*experiment.Weights, []experiment.TensorSource, error) {
	if len(sd.Tensors) != len(template.Tensors) {
		return nil, nil, fmt.Errorf("the state dict has %d floating-point tensors (%s), the model has %d (%s)",
			len(sd.Tensors), sdNames(sd), len(template.Tensors), templateNames(template))
	}
	var image [3]int // height, width, channels: for the MLP's first layer
	if template.Metadata["model"] == "mlp" {
		if err := json.Unmarshal([]byte(template.Metadata["input_shape"]), &image); err != nil {
			return nil, nil, fmt.Errorf("the MLP's weights have no valid input_shape metadata (%q): %w", template.Metadata["input_shape"], err)
		}
	}
	out := template.Clone()
	mapping := make([]experiment.TensorSource, len(sd.Tensors))
	for i, src := range sd.Tensors {
		dst := &out.Tensors[i]
		data, shape := src.Data, src.Shape
		if n, err := elements(shape); err != nil || n != len(data) {
			return nil, nil, fmt.Errorf("tensor %d: %q has shape %v but %d values", i, src.Name, shape, len(data))
		}
		if len(shape) == 4 { // [out, in, kh, kw] -> [out, kh, kw, in]
			data, shape = kernelToESP(data, shape)
		}
		if h, w, c := image[0], image[1], image[2]; i == 0 && c > 1 && len(shape) == 2 && shape[1] == h*w*c {
			data = mlpInputsToESP(data, shape[0], h*w, c)
		}
		if !slices.Equal(shape, dst.Shape) {
			return nil, nil, fmt.Errorf("tensor %d: %q has shape %v (as esp lays it out), the model's %q wants %v",
				i, src.Name, shape, dst.Name, dst.Shape)
		}
		dst.Data = slices.Clone(data)
		mapping[i] = experiment.TensorSource{From: src.Name, To: dst.Name}
	}
	return out, mapping, nil
}

// kernelToESP transposes a PyTorch convolution kernel [out, in, kh, kw] to esp's
// [out, kh, kw, in].
func kernelToESP(data []float32, shape []int) ([]float32, []int) {
	o, in, kh, kw := shape[0], shape[1], shape[2], shape[3]
	out := make([]float32, len(data))
	for a := range o {
		for c := range in {
			for y := range kh {
				for x := range kw {
					out[((a*kh+y)*kw+x)*in+c] = data[((a*in+c)*kh+y)*kw+x]
				}
			}
		}
	}
	return out, []int{o, kh, kw, in}
}

// mlpInputsToESP reorders the columns of an MLP's first weight matrix [out, c*pixels]
// from PyTorch's input order (NCHW flattened: channel, then pixel) to esp's (NHWC
// flattened: pixel, then channel).
func mlpInputsToESP(data []float32, out, pixels, c int) []float32 {
	in := pixels * c
	res := make([]float32, len(data))
	for o := range out {
		for ch := range c {
			for p := range pixels {
				res[o*in+p*c+ch] = data[o*in+ch*pixels+p]
			}
		}
	}
	return res
}

func sdNames(sd *StateDict) string {
	names := make([]string, len(sd.Tensors))
	for i, t := range sd.Tensors {
		names[i] = t.Name
	}
	return joinShort(names)
}

func templateNames(w *experiment.Weights) string {
	names := make([]string, len(w.Tensors))
	for i, t := range w.Tensors {
		names[i] = t.Name
	}
	return joinShort(names)
}

// joinShort joins names, eliding the middle of long lists.
func joinShort(names []string) string {
	if len(names) > 8 {
		names = append(append(names[:4:4], "..."), names[len(names)-3:]...)
	}
	return fmt.Sprint(names)
}
