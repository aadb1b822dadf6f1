package experiment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/gomlx/compute"

	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/models"
)

// CheckTolerance is the largest relative difference [CheckBackend] accepts between a
// backend and the Go backend, in the loss and in the gradient (L2 norm of the difference
// over the reference's). It leaves room for TF32 matmuls and convolutions on a GPU (10-bit
// mantissas), and none for a wrong formulation.
const CheckTolerance = 1e-2

// BackendCheck is what [CheckBackend] measured.
type BackendCheck struct {
	// Backend is the checked backend's description; Devices describes each of its devices.
	Backend string
	Devices []string
	// Model is the model checked, Examples the number of images.
	Model    string
	Examples int
	// Loss is the mean cross-entropy on the checked backend, ReferenceLoss on the Go
	// backend from the same weights.
	Loss, ReferenceLoss float64
	// LossDiff and GradientDiff are the relative differences (see [CheckTolerance]).
	LossDiff, GradientDiff float64
	// Seconds is the time the checked backend took, compilation included.
	Seconds float64
}

// String says what was checked and what was found, on one line.
func (c *BackendCheck) String() string {
	return fmt.Sprintf("%s loss and gradient on %d images: loss %.6f vs %.6f on the Go backend (relative difference %.1e), gradient relative difference %.1e, %.2fs",
		c.Model, c.Examples, c.Loss, c.ReferenceLoss, c.LossDiff, c.GradientDiff, c.Seconds)
}

// CheckBackend verifies that backend computes: it compiles and runs LeNet (with the
// backend's convolution and pooling formulation) on a batch of synthetic MNIST-sized
// images, and compares the loss and the gradient of every weight with the Go backend's
// from the same weights. It answers, in a few seconds, whether a PJRT plugin loads,
// compiles and gives the right numbers before hours of training are spent on it. An
// error says which step failed or by how much the results differ.
func CheckBackend(backend compute.Backend) (check *BackendCheck, err error) {
	err = recoverError(func() error { // a plugin's failure may surface as a panic in GoMLX
		check, err = checkBackend(backend, models.Config{}, models.Config{})
		return err
	})
	return check, err
}

// checkBackend is CheckBackend with the model configurations of the checked backend and of
// the reference (the tests give them different ones).
func checkBackend(backend compute.Backend, config, refConfig models.Config) (*BackendCheck, error) {
	const model, examples = "lenet", 64
	check := &BackendCheck{Backend: backend.Description(), Model: model, Examples: examples}
	for d := range backend.NumDevices() {
		check.Devices = append(check.Devices, backend.DeviceDescription(compute.DeviceNum(d)))
	}
	split := syntheticSplit(rand.New(rand.NewPCG(1, 2)), examples, 28, 28, 1, 10)
	start := time.Now()
	net, err := NewNet(backend, model, config, split.Height, split.Width, split.Channels, 1)
	if err != nil {
		return check, fmt.Errorf("experiment: checking backend %s: building %s: %w", backend.Name(), model, err)
	}
	grad, loss, err := net.Gradient(split, examples, nil)
	if err != nil {
		return check, fmt.Errorf("experiment: checking backend %s: %s gradient: %w", backend.Name(), model, err)
	}
	check.Seconds = time.Since(start).Seconds()
	check.Loss = loss
	weights, err := net.Weights()
	if err != nil {
		return check, fmt.Errorf("experiment: checking backend %s: reading %s's weights: %w", backend.Name(), model, err)
	}

	reference, err := NewBackend("go")
	if err != nil {
		return check, err
	}
	defer reference.Finalize()
	refNet, err := NewNet(reference, model, refConfig, split.Height, split.Width, split.Channels, 1)
	if err != nil {
		return check, fmt.Errorf("experiment: checking backend: reference %s: %w", model, err)
	}
	if err := refNet.SetWeights(weights); err != nil {
		return check, fmt.Errorf("experiment: checking backend: reference %s: %w", model, err)
	}
	refGrad, refLoss, err := refNet.Gradient(split, examples, nil)
	if err != nil {
		return check, fmt.Errorf("experiment: checking backend: reference %s gradient: %w", model, err)
	}
	check.ReferenceLoss = refLoss
	check.LossDiff = math.Abs(loss-refLoss) / math.Abs(refLoss)
	diff, _, err := Distance(grad, refGrad)
	if err != nil {
		return check, fmt.Errorf("experiment: checking backend: comparing gradients: %w", err)
	}
	check.GradientDiff = diff / refGrad.Norm()
	if !(check.LossDiff <= CheckTolerance && check.GradientDiff <= CheckTolerance) { // NaN fails too
		return check, fmt.Errorf("experiment: backend %s computes wrong results: %s (tolerance %.0e)", backend.Name(), check, CheckTolerance)
	}
	return check, nil
}

// syntheticMargin is the flat background of syntheticSplit's bottom rows: not 0, so
// that convolutions there tie at nonzero values whatever their biases.
const syntheticMargin = 77

// syntheticSplit returns n separable images of the given shape drawn from rng: class k
// lights up row k mod height (brightness 150..255) over a noise background (0..99), so a
// network's gradient on them is far from zero and a few steps learn them. The bottom
// quarter's background is flat (syntheticMargin), as a digit's margin is: LeNet's max
// pooling windows there tie, so a backend that gives a tie's gradient to more than one
// input fails CheckBackend (every tied input getting it all is 6.4e-2 off).
func syntheticSplit(rng *rand.Rand, n, height, width, channels, classes int) *datasets.Split {
	s := &datasets.Split{Height: height, Width: width, Channels: channels, Images: make([]uint8, n*height*width*channels), Labels: make([]uint8, n)}
	rowSize := width * channels
	for i := range n {
		label := rng.IntN(classes)
		s.Labels[i] = uint8(label)
		img := s.Image(i)
		for p := range img {
			img[p] = uint8(rng.IntN(100))
		}
		for p := (height - height/4) * rowSize; p < len(img); p++ {
			img[p] = syntheticMargin
		}
		row := label % height
		for x := range rowSize {
			img[row*rowSize+x] = uint8(150 + rng.IntN(106))
		}
	}
	return s
}
