package torchstate_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute"

	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/experiment"
	"github.com/extremepoints/esp/torchstate"
)

// expected is testdata/expected.json, written by testdata/make_fixtures.py with PyTorch.
type expected struct {
	Height, Width, Channels int
	Images                  [][]uint8
	LogSoftmax              [][]float64 `json:"log_softmax"`
	// Gradient, where present: PyTorch's gradient norms per tensor for some labeled images.
	Gradient *struct {
		Images [][]uint8
		Labels []uint8
		Norms  []float64
	}
	// Hessian, where present: PyTorch's exact H·w (w the parameters) of the mean
	// cross-entropy for some labeled images: its norm per parameter tensor, and wᵀHw.
	Hessian *struct {
		Images        [][]uint8
		Labels        []uint8
		Norms         map[string]float64
		QuadraticForm float64 `json:"quadratic_form"`
	}
}

func loadExpected(t *testing.T) map[string]expected {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]expected
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestImportedModelsComputeWhatPyTorchComputes maps each fixture onto esp's model and
// checks esp's log-probabilities of every class against PyTorch's, image by image.
func TestImportedModelsComputeWhatPyTorchComputes(t *testing.T) {
	want := loadExpected(t)
	backend, err := experiment.NewBackend("go")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file, model, format, dtype string
		tensors                    []string
	}{
		{"mlp_legacy.pt", "mlp", torchstate.FormatLegacy, "float32", []string{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}},
		{"mlp_zip_f64.pt", "mlp", torchstate.FormatZip, "float64", []string{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}},
		{"mlp_zip_bf16.pt", "mlp", torchstate.FormatZip, "bfloat16", []string{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}},
		{"lenet_zip.pt", "lenet", torchstate.FormatZip, "float32", []string{"layer1.0.weight", "layer1.0.bias", "layer2.0.weight",
			"layer2.0.bias", "layer3.0.weight", "layer3.0.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}},
		{"cnn2_zip.pt", "lenet", torchstate.FormatZip, "float32", []string{"layer1.0.weight", "layer1.0.bias", "layer2.0.weight",
			"layer2.0.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}},
		{"resnet_zip_f16.pt", "resnet", torchstate.FormatZip, "float16", resNetTensors()},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			exp := want[tc.file]
			sd, err := torchstate.Load(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if sd.Format != tc.format {
				t.Errorf("format %q, want %q", sd.Format, tc.format)
			}
			var names []string
			for _, tensor := range sd.Tensors {
				names = append(names, tensor.Name)
				if tensor.DType != tc.dtype {
					t.Errorf("%s: dtype %s, want %s", tensor.Name, tensor.DType, tc.dtype)
				}
			}
			if strings.Join(names, " ") != strings.Join(tc.tensors, " ") {
				t.Errorf("tensors %v, want %v", names, tc.tensors)
			}
			classes := len(exp.LogSoftmax[0])
			net, mapping := importedNet(t, backend, sd, tc.model, exp)
			w, err := net.Weights()
			if err != nil {
				t.Fatal(err)
			}
			if len(mapping) != len(tc.tensors) || mapping[0].From != tc.tensors[0] || mapping[0].To != w.Tensors[0].Name {
				t.Errorf("mapping %v", mapping)
			}
			for i, img := range exp.Images {
				split := &datasets.Split{Images: img, Labels: []uint8{0}, Height: exp.Height, Width: exp.Width, Channels: exp.Channels}
				for k, got := range logProbs(t, net, split, classes) {
					if want := exp.LogSoftmax[i][k]; math.Abs(got-want) > 1e-4 {
						t.Errorf("image %d, class %d: log p = %.6f, PyTorch %.6f", i, k, got, want)
					}
				}
			}
		})
	}
}

// TestGradientsMatchPyTorch checks esp's gradient of the mean cross-entropy against
// PyTorch's, tensor by tensor, on images that are blank but for a patch: there the first
// convolution's max-pooling windows hold equal values, and PyTorch gives each window's
// gradient to one of them.
func TestGradientsMatchPyTorch(t *testing.T) {
	const file = "cnn2_zip.pt"
	exp := loadExpected(t)[file]
	backend, err := experiment.NewBackend("go")
	if err != nil {
		t.Fatal(err)
	}
	sd, err := torchstate.Load(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	net, _ := importedNet(t, backend, sd, "lenet", exp)
	g := exp.Gradient
	split := &datasets.Split{Images: slices.Concat(g.Images...), Labels: g.Labels, Height: exp.Height, Width: exp.Width, Channels: exp.Channels}
	grad, _, err := net.Gradient(split, len(g.Labels), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, tensor := range grad.Tensors {
		var sum float64
		for _, v := range tensor.Data {
			sum += float64(v) * float64(v)
		}
		if got, want := math.Sqrt(sum), g.Norms[i]; math.Abs(got-want) > 1e-4*max(1, want) {
			t.Errorf("%s (%s): gradient norm %.6f, PyTorch %.6f", tensor.Name, sd.Tensors[i].Name, got, want)
		}
	}
}

// TestHessianVectorProductsMatchPyTorch checks esp's exact Hessian-vector product (in
// float32) against PyTorch's (autograd twice, in float64) for each model: H·w, the
// direction being the weights themselves, tensor by tensor, and wᵀHw. For the small CNN
// the images are blank but for a patch, so that max-pooling windows tie.
func TestHessianVectorProductsMatchPyTorch(t *testing.T) {
	backend, err := experiment.NewBackend("go")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, model string }{
		{"mlp_zip_f64.pt", "mlp"}, {"lenet_zip.pt", "lenet"}, {"cnn2_zip.pt", "lenet"}, {"resnet_zip_f16.pt", "resnet"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			exp := loadExpected(t)[tc.file]
			sd, err := torchstate.Load(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			net, mapping := importedNet(t, backend, sd, tc.model, exp)
			h := exp.Hessian
			split := &datasets.Split{Images: slices.Concat(h.Images...), Labels: h.Labels, Height: exp.Height, Width: exp.Width, Channels: exp.Channels}
			w, err := net.Weights()
			if err != nil {
				t.Fatal(err)
			}
			hw, err := net.HessianVectorProduct(split, len(h.Labels), nil, w)
			if err != nil {
				t.Fatal(err)
			}
			checked := 0
			for _, m := range mapping {
				want, ok := h.Norms[m.From]
				if !ok {
					continue // running statistics: not parameters
				}
				checked++
				if got := norm(hw.Tensor(m.To).Data); math.Abs(got-want) > 1e-3*max(want, 0.01) {
					t.Errorf("%s (%s): |H·w| %.6f, PyTorch %.6f", m.To, m.From, got, want)
				}
			}
			if checked != len(h.Norms) {
				t.Errorf("checked %d tensors of PyTorch's %d", checked, len(h.Norms))
			}
			var quadratic float64
			for i, tensor := range hw.Tensors {
				for j, v := range tensor.Data {
					quadratic += float64(v) * float64(w.Tensors[i].Data[j])
				}
			}
			if want := h.QuadraticForm; math.Abs(quadratic-want) > 1e-3*max(math.Abs(want), 0.1) {
				t.Errorf("wᵀHw %.6f, PyTorch %.6f", quadratic, want)
			}
		})
	}
}

func norm(data []float32) float64 {
	var sum float64
	for _, v := range data {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum)
}

// importedNet builds model for the fixture's images and classes and maps sd onto it.
func importedNet(t *testing.T, backend compute.Backend, sd *torchstate.StateDict, model string, exp expected) (*experiment.Net, []experiment.TensorSource) {
	t.Helper()
	return importNet(t, backend, sd, model, exp.Height, exp.Width, exp.Channels, len(exp.LogSoftmax[0]))
}

// importNet builds model for images of height x width x channels and classes classes, and
// maps sd onto it.
func importNet(t *testing.T, backend compute.Backend, sd *torchstate.StateDict, model string, height, width, channels, classes int) (*experiment.Net, []experiment.TensorSource) {
	t.Helper()
	config, err := torchstate.ModelConfig(model, sd, classes)
	if err != nil {
		t.Fatal(err)
	}
	net, err := experiment.NewNet(backend, model, config, height, width, channels, 0)
	if err != nil {
		t.Fatal(err)
	}
	template, err := net.Weights()
	if err != nil {
		t.Fatal(err)
	}
	w, mapping, err := torchstate.Weights(sd, template)
	if err != nil {
		t.Fatal(err)
	}
	if err := net.SetWeights(w); err != nil {
		t.Fatal(err)
	}
	return net, mapping
}

// resNetTensors names the floating-point tensors of the authors' ResNet with one block
// per stage, in their order: a convolution, then its batch norm, in the stem, each
// block, and the shortcuts ("downsample") of the last two stages.
func resNetTensors() []string {
	bn := func(prefix string) []string {
		return []string{prefix + ".weight", prefix + ".bias", prefix + ".running_mean", prefix + ".running_var"}
	}
	names := append([]string{"conv.weight"}, bn("bn")...)
	for layer := 1; layer <= 3; layer++ {
		block := fmt.Sprintf("layer%d.0.", layer)
		names = append(append(append(names, block+"conv1.weight"), bn(block+"bn1")...), block+"conv2.weight")
		names = append(names, bn(block+"bn2")...)
		if layer > 1 {
			names = append(append(names, block+"downsample.0.weight"), bn(block+"downsample.1")...)
		}
	}
	return append(names, "fc.weight", "fc.bias")
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	legacy, err := os.ReadFile(filepath.Join("testdata", "mlp_legacy.pt"))
	if err != nil {
		t.Fatal(err)
	}
	zipped, err := os.ReadFile(filepath.Join("testdata", "lenet_zip.pt"))
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(zipped)
	flipped[len(flipped)/2] ^= 0xff // in a data record: the CRC-32 tells

	tests := []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope.pt"), "no such file"},
		{"empty", write("empty.pt", nil), "not a PyTorch state dict (0 bytes)"},
		{"text", write("text.pt", []byte("hello, world\n")), "neither a zip archive nor a pickle stream"},
		{"truncated", write("truncated.pt", legacy[:len(legacy)/2]), "not a PyTorch state dict"},
		{"broken zip", write("broken.pt", []byte("PK\x03\x04 not really a zip")), "a damaged or truncated zip archive"},
		// The unpickler takes a short read for a whole one: cut short, these loaded with
		// zeros or stale values where the data ended.
		{"legacy, the last byte cut", write("cut1.pt", legacy[:len(legacy)-1]), "a file cut short"},
		{"legacy, 3 bytes cut", write("cut3.pt", legacy[:len(legacy)-3]), "a file cut short"},
		{"zip, the last byte cut", write("zipcut.pt", zipped[:len(zipped)-1]), "a damaged or truncated zip archive"},
		{"zip, a data byte flipped", write("flipped.pt", flipped), "checksum error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sd, err := torchstate.Load(tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load = %v, %v; want an error containing %q", sd, err, tc.want)
			}
		})
	}
}

func TestMappingErrors(t *testing.T) {
	backend, err := experiment.NewBackend("go")
	if err != nil {
		t.Fatal(err)
	}
	mlp, err := torchstate.Load(filepath.Join("testdata", "mlp_legacy.pt"))
	if err != nil {
		t.Fatal(err)
	}
	lenet, err := torchstate.Load(filepath.Join("testdata", "lenet_zip.pt"))
	if err != nil {
		t.Fatal(err)
	}
	resnet, err := torchstate.Load(filepath.Join("testdata", "resnet_zip_f16.pt"))
	if err != nil {
		t.Fatal(err)
	}
	// The first shortcut (layer2.0.downsample.0.weight) made 5x5.
	wideShortcut := *resnet
	wideShortcut.Tensors = slices.Clone(resnet.Tensors)
	for i, tensor := range wideShortcut.Tensors {
		if tensor.Name == "layer2.0.downsample.0.weight" {
			wideShortcut.Tensors[i].Shape = []int{32, 16, 5, 5}
		}
	}
	for _, tc := range []struct {
		name  string
		sd    *torchstate.StateDict
		model string
		want  string
	}{
		{"unknown model", mlp, "vgg", `model "vgg": valid models are [lenet mlp resnet]`},
		{"mlp as resnet", mlp, "resnet", "has 0 convolution kernels"},
		{"lenet as resnet", lenet, "resnet", "has 3 convolution kernels"},
		{"5x5 shortcut", &wideShortcut, "resnet", `"layer2.0.downsample.0.weight" has a 5x5 kernel`},
		{"resnet as lenet", resnet, "lenet", "has 9 convolution kernels; esp's LeNet has 1 to 3"},
		{"mlp as lenet", mlp, "lenet", "has 0 convolution kernels"},
	} {
		if _, err := torchstate.ModelConfig(tc.model, tc.sd, 3); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: ModelConfig = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	tests := []struct {
		name                 string
		sd                   *torchstate.StateDict
		model                string
		height, width, class int
		want                 string
	}{
		{"lenet weights onto the mlp", lenet, "mlp", 8, 8, 3, "10 floating-point tensors"},
		{"wrong image size", mlp, "mlp", 8, 8, 2, `"fc1.weight" has shape [5 36]`},
		{"wrong class count", mlp, "mlp", 6, 6, 10, `"fc2.weight" has shape [2 5] (as esp lays it out), the model's "dense_1/weights" wants [10 5]`},
		{"resnet, wrong class count", resnet, "resnet", 14, 14, 10, `"fc.weight" has shape [2 64]`},
		{"resnet onto the mlp", resnet, "mlp", 14, 14, 2, "47 floating-point tensors"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			config, err := torchstate.ModelConfig(tc.model, tc.sd, tc.class)
			if err != nil {
				t.Fatal(err)
			}
			net, err := experiment.NewNet(backend, tc.model, config, tc.height, tc.width, 1, 0)
			if err != nil {
				t.Fatal(err)
			}
			template, err := net.Weights()
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := torchstate.Weights(tc.sd, template); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Weights = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestColorMLPTakesPyTorchPixelOrder: a PyTorch MLP for color images flattens NCHW
// tensors, so its first layer's inputs run over the channels' planes (all red pixels,
// then green, then blue), where esp's MLP flattens NHWC images (a pixel's red, green and
// blue together). The imported net must compute what the PyTorch net computes: here
// checked against the PyTorch forward pass written out by hand, on an image whose
// channels differ, for a 2x3x3 MLP with 4 hidden units and 3 classes.
func TestColorMLPTakesPyTorchPixelOrder(t *testing.T) {
	const h, w, c, hidden, classes = 2, 3, 3, 4, 3
	const in = h * w * c
	rng := rand.New(rand.NewPCG(21, 22))
	tensor := func(name string, shape ...int) torchstate.Tensor {
		n := 1
		for _, d := range shape {
			n *= d
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = float32(rng.NormFloat64())
		}
		return torchstate.Tensor{Name: name, Shape: shape, Data: data, DType: "float32"}
	}
	sd := &torchstate.StateDict{Tensors: []torchstate.Tensor{
		tensor("fc1.weight", hidden, in), tensor("fc1.bias", hidden), tensor("fc2.weight", classes, hidden), tensor("fc2.bias", classes),
	}}
	image := make([]uint8, in) // NHWC bytes, as esp's datasets hold them
	for i := range image {
		image[i] = uint8(rng.IntN(256))
	}
	// PyTorch: x = image as [C, H, W] / 255, flattened; fc2(relu(fc1(x))), log-softmax.
	x := make([]float64, in)
	for ch := range c {
		for p := range h * w {
			x[ch*h*w+p] = float64(image[p*c+ch]) / 255
		}
	}
	dense := func(wt, b torchstate.Tensor, x []float64) []float64 {
		y := make([]float64, len(b.Data))
		for o := range y {
			y[o] = float64(b.Data[o])
			for i, v := range x {
				y[o] += float64(wt.Data[o*len(x)+i]) * v
			}
		}
		return y
	}
	z := dense(sd.Tensors[0], sd.Tensors[1], x)
	for i := range z {
		z[i] = max(z[i], 0)
	}
	logits := dense(sd.Tensors[2], sd.Tensors[3], z)
	var sumExp float64
	for _, l := range logits {
		sumExp += math.Exp(l)
	}
	backend, err := experiment.NewBackend("go")
	if err != nil {
		t.Fatal(err)
	}
	net, _ := importNet(t, backend, sd, "mlp", h, w, c, classes)
	split := &datasets.Split{Images: image, Labels: []uint8{0}, Height: h, Width: w, Channels: c}
	for k, got := range logProbs(t, net, split, classes) {
		if want := logits[k] - math.Log(sumExp); math.Abs(got-want) > 1e-5 {
			t.Errorf("class %d: log p = %.6f, PyTorch's forward pass %.6f", k, got, want)
		}
	}
}

// logProbs returns net's log-probability of each of classes for the one image of split:
// the negated loss of each label.
func logProbs(t *testing.T, net *experiment.Net, split *datasets.Split, classes int) []float64 {
	t.Helper()
	perClass := make([][]uint8, classes)
	for k := range perClass {
		perClass[k] = []uint8{uint8(k)}
	}
	evals, err := net.Evaluate(split, 1, perClass...)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, len(evals))
	for k, e := range evals {
		out[k] = -e.Loss
	}
	return out
}
