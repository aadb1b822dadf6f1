package experiment

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads better unqualified.
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/models"
)

// modelScope is the scope holding the model's variables; the optimizer's live elsewhere.
const modelScope = "model"

// modelPrefix is the path prefix of the model's variables in the store.
const modelPrefix = "/" + modelScope + "/"

// readVariablesAtRun makes the graph g read the store's variables at every run. GoMLX
// bakes their current values into a graph as constants when the backend prefers that (the
// Go backend, since github.com/gomlx/compute v0.1.13) and the graph is not marked for
// training. esp compiles a graph once and runs it across weight updates, evaluation graphs
// included, so every graph takes the mark. esp's models get their training mode as an
// argument, so the mark changes nothing else.
func readVariablesAtRun(scope *gmodel.Scope, g *Graph) {
	scope.SetTraining(g, true)
}

// Net is a model with its variables on a backend: what training updates and what
// probes evaluate. A Net is not safe for concurrent use.
type Net struct {
	Backend compute.Backend
	Model   *models.Model
	// Store holds the variables: the model's under "/model", the optimizer's elsewhere.
	Store *gmodel.Store
	// Height, Width and Channels are the input image shape.
	Height, Width, Channels int

	predictExec *gmodel.Exec
	gradExec    *gmodel.Exec
	gradNames   []string
	hvpExec     *gmodel.Exec
	hvpNames    []string
	batches     *batchCache
}

// NewNet builds the named model for images of the given shape and initializes its
// variables (Xavier uniform weights, zero biases) from seed.
func NewNet(backend compute.Backend, modelName string, config models.Config, height, width, channels int, seed uint64) (*Net, error) {
	if backend == nil {
		return nil, fmt.Errorf("experiment: nil backend")
	}
	if height <= 0 || width <= 0 || channels <= 0 {
		return nil, fmt.Errorf("experiment: invalid image shape %dx%dx%d", height, width, channels)
	}
	m, err := models.New(modelName, config)
	if err != nil {
		return nil, err
	}
	if err := m.CheckInput(height, width, channels); err != nil {
		return nil, err // before any graph: too small an image makes the backend fail deep inside
	}
	n := &Net{Backend: backend, Model: m, Store: gmodel.NewStore(), Height: height, Width: width, Channels: channels,
		batches: newBatchCache(backend)}
	if err := n.Store.SetRNGStateFromSeed(int64(seed)); err != nil {
		return nil, fmt.Errorf("experiment: seeding the initialization with %d: %w", seed, err)
	}
	n.predictExec, err = gmodel.NewExec(backend, n.Store, func(scope *gmodel.Scope, images *Node) *Node {
		readVariablesAtRun(scope, images.Graph())
		return LogSoftmax(n.Model.Logits(scope.In(modelScope), unitPixels(images), false), -1)
	})
	if err != nil {
		return nil, err
	}
	// Running the inference graph once creates and initializes the variables.
	if _, err := n.predictExec.Call(n.zeros(1)); err != nil {
		return nil, fmt.Errorf("experiment: building %s: %w", modelName, err)
	}
	return n, nil
}

// reinitialize gives the model's variables new initial values from seed, the ones
// NewNet gives for that seed: the same initializers, drawn in the same order from the
// store's random-number generator reset to seed.
func (n *Net) reinitialize(seed uint64) error {
	for _, v := range n.modelVariables() {
		if err := v.Reset(); err != nil {
			return fmt.Errorf("experiment: resetting %s: %w", v.Path(), err)
		}
	}
	if err := n.Store.SetRNGStateFromSeed(int64(seed)); err != nil {
		return fmt.Errorf("experiment: seeding the initialization with %d: %w", seed, err)
	}
	if err := n.Store.InitializeVariables(n.Backend, nil); err != nil {
		return fmt.Errorf("experiment: initializing %s: %w", n.Model.Name(), err)
	}
	return nil
}

// LoadNet reads a weights file written by this package and returns a Net holding
// them, with the model and input shape recorded in the file's metadata.
func LoadNet(backend compute.Backend, path string) (*Net, error) {
	w, err := LoadWeights(path)
	if err != nil {
		return nil, err
	}
	n, err := NetFromWeights(backend, w)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

// NetFromWeights returns a Net holding w, weights read from a file this package wrote
// (LoadWeights), with the model and input shape recorded in their metadata.
func NetFromWeights(backend compute.Backend, w *Weights) (*Net, error) {
	var config models.Config
	var shape [3]int
	if err := json.Unmarshal([]byte(w.Metadata["model_config"]), &config); err != nil {
		return nil, fmt.Errorf("experiment: model_config metadata: %w", err)
	}
	if err := json.Unmarshal([]byte(w.Metadata["input_shape"]), &shape); err != nil {
		return nil, fmt.Errorf("experiment: input_shape metadata: %w", err)
	}
	n, err := NewNet(backend, w.Metadata["model"], config, shape[0], shape[1], shape[2], 0)
	if err != nil {
		return nil, err
	}
	if err := n.SetWeights(w); err != nil {
		return nil, err
	}
	return n, nil
}

// zeros returns a batch of black images, as the graphs take them (uint8).
func (n *Net) zeros(batch int) *tensors.Tensor {
	return tensors.FromShape(shapes.Make(dtypes.Uint8, batch, n.Height, n.Width, n.Channels))
}

// unitPixels returns images as the models take them: uint8 pixels (what esp feeds) as
// float32 scaled to [0, 1]; float32 images (a Stepper's) unchanged. Scaling in the graph
// moves a quarter of the bytes to the device and keeps the host from converting every
// batch.
func unitPixels(images *Node) *Node {
	if images.DType() != dtypes.Uint8 {
		return images
	}
	return MulScalar(ConvertDType(images, dtypes.Float32), 1.0/255)
}

// modelVariables yields the model's variables in creation order.
func (n *Net) modelVariables() []*gmodel.Variable {
	var vars []*gmodel.Variable
	for v := range n.Store.IterVariables() {
		if strings.HasPrefix(v.Path(), modelPrefix) {
			vars = append(vars, v)
		}
	}
	return vars
}

// Weights returns a host copy of the model's variables (trainable parameters and
// state such as batch-norm running statistics), with metadata describing the model.
func (n *Net) Weights() (*Weights, error) {
	return readWeights(n.modelVariables(), modelPrefix, n.metadata())
}

// readWeights copies vars to the host as Weights with metadata, each tensor named by its
// variable's path without prefix.
func readWeights(vars []*gmodel.Variable, prefix string, metadata map[string]string) (*Weights, error) {
	w := &Weights{Metadata: metadata}
	for _, v := range vars {
		t, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("experiment: reading %s: %w", v.Path(), err)
		}
		if t.DType() != dtypes.Float32 {
			return nil, fmt.Errorf("experiment: variable %s has dtype %s, want float32", v.Path(), t.DType())
		}
		data, err := tensors.CopyFlatData[float32](t)
		if err != nil {
			return nil, fmt.Errorf("experiment: reading %s: %w", v.Path(), err)
		}
		w.Tensors = append(w.Tensors, Tensor{
			Name:      strings.TrimPrefix(v.Path(), prefix),
			Shape:     append([]int(nil), t.Shape().Dimensions...),
			Data:      data,
			Trainable: v.Trainable,
		})
	}
	return w, nil
}

func (n *Net) metadata() map[string]string {
	config, _ := json.Marshal(n.Model.Config())
	shape, _ := json.Marshal([]int{n.Height, n.Width, n.Channels})
	return map[string]string{
		"format":       WeightsFormat,
		"model":        n.Model.Name(),
		"model_config": string(config),
		"input_shape":  string(shape),
	}
}

// SetWeights loads w into the model's variables. Every model variable must be present
// in w with the same shape; extra tensors in w are an error too.
func (n *Net) SetWeights(w *Weights) error {
	vars := n.modelVariables()
	if len(vars) != len(w.Tensors) {
		return fmt.Errorf("experiment: model %s has %d variables, weights have %d tensors", n.Model.Name(), len(vars), len(w.Tensors))
	}
	for _, v := range vars {
		name := strings.TrimPrefix(v.Path(), modelPrefix)
		t := w.Tensor(name)
		if t == nil {
			return fmt.Errorf("experiment: weights lack tensor %q", name)
		}
		if want := v.Shape().Dimensions; !slices.Equal(want, t.Shape) {
			return fmt.Errorf("experiment: tensor %q has shape %v, model wants %v", name, t.Shape, want)
		}
		if n := elementCount(t.Shape); n != len(t.Data) {
			return fmt.Errorf("experiment: tensor %q has shape %v but %d values", name, t.Shape, len(t.Data))
		}
		if err := v.SetValue(tensors.FromFlatDataAndDimensions(t.Data, t.Shape...)); err != nil {
			return fmt.Errorf("experiment: setting %q: %w", name, err)
		}
	}
	return nil
}

// Eval is the result of evaluating a Net on a split with one set of labels.
type Eval struct {
	// Loss is the mean cross-entropy; Accuracy the fraction of argmax predictions
	// equal to the label.
	Loss, Accuracy float64
	N              int
}

// Evaluate computes loss and accuracy (inference mode) on split, in batches of
// batchSize (default 1000; at most 250 for convolutional models on the Go backend, to
// bound memory), against each of the given label slices (default: the split's own
// labels). One forward pass serves all label slices.
func (n *Net) Evaluate(split *datasets.Split, batchSize int, labels ...[]uint8) ([]Eval, error) {
	if err := n.checkSplit(split); err != nil {
		return nil, err
	}
	batchSize = n.passBatch(batchSize)
	if len(labels) == 0 {
		labels = [][]uint8{split.Labels}
	}
	for _, l := range labels {
		if err := n.checkLabels(l, split.Len()); err != nil {
			return nil, err
		}
	}
	sums := make([]Eval, len(labels))
	err := n.batches.forEach(split, batchSize, func(images *tensors.Tensor, start, count int) error {
		out, err := n.predictExec.Call(images)
		if err != nil {
			return err
		}
		logp := out[0]
		defer logp.FinalizeAll()
		classes := logp.Shape().Dim(-1)
		return tensors.ConstFlatData(logp, func(flat []float32) { accumulate(sums, flat, classes, start, count, labels) })
	})
	if err != nil {
		return nil, fmt.Errorf("experiment: evaluating: %w", err)
	}
	return averaged(sums, split.Len()), nil
}

// EvaluateDataset evaluates the net on d's training and test splits, each against its own
// labels (the clean ones: a corrupted training set's extra examples are not in d.Train).
func (n *Net) EvaluateDataset(d *datasets.Dataset, batchSize int) (train, test Eval, err error) {
	tr, err := n.Evaluate(d.Train, batchSize)
	if err != nil {
		return Eval{}, Eval{}, fmt.Errorf("on %s's training split: %w", d.Name, err)
	}
	te, err := n.Evaluate(d.Test, batchSize)
	if err != nil {
		return Eval{}, Eval{}, fmt.Errorf("on %s's test split: %w", d.Name, err)
	}
	return tr[0], te[0], nil
}

// accumulate adds to sums[k] the summed loss and count of correct argmax predictions of
// count rows of log-probabilities (classes each, in logp) for examples start.. against
// labels[k].
func accumulate(sums []Eval, logp []float32, classes, start, count int, labels [][]uint8) {
	for i := range count {
		row := logp[i*classes : (i+1)*classes]
		best := 0
		for c, v := range row {
			if v > row[best] {
				best = c
			}
		}
		for k, l := range labels {
			y := int(l[start+i])
			sums[k].Loss -= float64(row[y])
			if best == y {
				sums[k].Accuracy++
			}
		}
	}
}

// averaged turns sums over n examples into means.
func averaged(sums []Eval, n int) []Eval {
	for k := range sums {
		sums[k].N = n
		sums[k].Loss /= float64(n)
		sums[k].Accuracy /= float64(n)
	}
	return sums
}

// Gradient returns the gradient of the mean cross-entropy over split (inference mode,
// labels default to the split's own) with respect to the model's trainable
// parameters, and that mean loss. The gradient has the same tensors as Weights
// (non-trainable ones zero), so Norm and Distance apply to it.
func (n *Net) Gradient(split *datasets.Split, batchSize int, labels []uint8) (*Weights, float64, error) {
	batchSize, labels, err := n.passInputs(split, batchSize, labels)
	if err != nil {
		return nil, 0, err
	}
	if n.gradExec == nil {
		n.gradExec, err = gmodel.NewExec(n.Backend, n.Store, func(scope *gmodel.Scope, images, labels, mask *Node) []*Node {
			loss, params, used := n.lossGraph(n.Model, scope, images, labels, mask)
			n.gradNames = n.trainableNames(used)
			return append([]*Node{loss}, Gradient(loss, params...)...)
		})
		if err != nil {
			return nil, 0, err
		}
	}
	grad, loss, err := n.meanOverSplit(n.gradExec, &n.gradNames, 1, split, batchSize, labels, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("experiment: computing gradient: %w", err)
	}
	return grad, loss, nil
}

// passInputs applies the defaults of a pass over split (Gradient's, HessianVectorProduct's)
// and checks its inputs: it returns the batch size to use and the labels, the split's own
// when labels is nil.
func (n *Net) passInputs(split *datasets.Split, batchSize int, labels []uint8) (int, []uint8, error) {
	if err := n.checkSplit(split); err != nil {
		return 0, nil, err
	}
	if labels == nil {
		labels = split.Labels
	}
	if err := n.checkLabels(labels, split.Len()); err != nil {
		return 0, nil, err
	}
	return n.passBatch(batchSize), labels, nil
}

// trainableVariables returns the model's trainable variables in creation order.
func (n *Net) trainableVariables() []*gmodel.Variable {
	var vars []*gmodel.Variable
	for _, v := range n.modelVariables() {
		if v.Trainable {
			vars = append(vars, v)
		}
	}
	return vars
}

// trainableNames returns the names (paths without the model's prefix) of the trainable
// variables at the indices used.
func (n *Net) trainableNames(used []int) []string {
	vars := n.trainableVariables()
	names := make([]string, len(used))
	for i, k := range used {
		names[i] = strings.TrimPrefix(vars[k].Path(), modelPrefix)
	}
	return names
}

// lossGraph builds the cross-entropy of a batch summed over its unmasked examples
// (inference mode) and returns it with the trainable variables it reads: their nodes, and
// their indices among trainableVariables.
func (n *Net) lossGraph(model *models.Model, scope *gmodel.Scope, images, labels, mask *Node) (loss *Node, params []*Node, used []int) {
	g := images.Graph()
	readVariablesAtRun(scope, g)
	logits := model.Logits(scope.In(modelScope), unitPixels(images), false)
	loss = ReduceAllSum(Mul(crossEntropy(logits, labels), mask))
	for k, v := range n.trainableVariables() {
		if v.InUseByGraph(g) {
			params = append(params, v.NodeValue(g))
			used = append(used, k)
		}
	}
	return loss, params, used
}

// meanOverSplit runs exec (see sumBatches) over split and returns the means over the
// examples of its outputs: those from first on as Weights (output first+i is the tensor
// (*names)[i], which exec's graph sets when it is built, at its first call; the other
// tensors zero), and output 0 when first is 1. Sums over several batches are kept in
// float64; a single batch's outputs are scaled where they lie (a Hessian-vector product
// of a few hundred examples is one batch, and copying the model's variables and a
// float64 copy of its output took a third of the MLP's).
func (n *Net) meanOverSplit(exec *gmodel.Exec, names *[]string, first int, split *datasets.Split, batchSize int, labels []uint8, extra []any) (*Weights, float64, error) {
	vars := n.modelVariables()
	means := &Weights{Metadata: n.metadata(), Tensors: make([]Tensor, len(vars))}
	index := make(map[string]int, len(vars))
	for i, v := range vars {
		name := strings.TrimPrefix(v.Path(), modelPrefix)
		means.Tensors[i] = Tensor{Name: name, Shape: slices.Clone(v.Shape().Dimensions), Trainable: v.Trainable}
		index[name] = i
	}
	oneBatch := split.Len() <= batchSize
	sums := make(map[string][]float64)
	var leadSum float64
	err := n.sumBatches(exec, split, batchSize, labels, extra, func(i int, data []float32) {
		if i < first {
			leadSum += float64(data[0])
			return
		}
		name := (*names)[i-first]
		if oneBatch {
			means.Tensors[index[name]].Data = data
			return
		}
		sum := sums[name]
		if sum == nil {
			sum = make([]float64, len(data))
			sums[name] = sum
		}
		for j, v := range data {
			sum[j] += float64(v)
		}
	})
	if err != nil {
		return nil, 0, err
	}
	count := float64(split.Len())
	for i := range means.Tensors {
		t := &means.Tensors[i]
		switch sum := sums[t.Name]; {
		case sum != nil:
			t.Data = make([]float32, len(sum))
			for j, v := range sum {
				t.Data[j] = float32(v / count)
			}
		case t.Data != nil:
			for j, v := range t.Data {
				t.Data[j] = float32(float64(v) / count)
			}
		default:
			t.Data = make([]float32, vars[i].Shape().Size())
		}
	}
	return means, leadSum / count, nil
}

// sumBatches runs exec, a graph of (images, labels, mask, extra...), on each batch of
// split (the last one padded, its padding masked out) and hands add each output's values.
func (n *Net) sumBatches(exec *gmodel.Exec, split *datasets.Split, batchSize int, labels []uint8, extra []any, add func(output int, data []float32)) error {
	bs := min(batchSize, split.Len())
	labelBuf := make([]int32, bs)
	maskBuf := make([]float32, bs)
	return n.batches.forEach(split, batchSize, func(images *tensors.Tensor, start, count int) error {
		for i := range bs {
			labelBuf[i], maskBuf[i] = 0, 0
			if i < count {
				labelBuf[i], maskBuf[i] = int32(labels[start+i]), 1
			}
		}
		args := append([]any{images, tensors.FromFlatDataAndDimensions(labelBuf, bs), tensors.FromFlatDataAndDimensions(maskBuf, bs)}, extra...)
		out, err := exec.Call(args...)
		if err != nil {
			return err
		}
		for i, t := range out {
			data, err := tensors.CopyFlatData[float32](t)
			t.FinalizeAll()
			if err != nil {
				return err
			}
			add(i, data)
		}
		return nil
	})
}

func (n *Net) checkSplit(split *datasets.Split) error {
	if split == nil || split.Len() == 0 {
		return fmt.Errorf("experiment: empty split")
	}
	if split.Height != n.Height || split.Width != n.Width || split.Channels != n.Channels {
		return fmt.Errorf("experiment: images are %dx%dx%d, the net takes %dx%dx%d",
			split.Height, split.Width, split.Channels, n.Height, n.Width, n.Channels)
	}
	return nil
}

// checkLabels reports labels that are not one per example or not among the net's
// classes (a dataset with more classes than the model: its one-hot would be all zeros).
func (n *Net) checkLabels(labels []uint8, examples int) error {
	if len(labels) != examples {
		return fmt.Errorf("experiment: %d labels for %d examples", len(labels), examples)
	}
	classes := n.Model.Config().Classes
	for i, l := range labels {
		if int(l) >= classes {
			return fmt.Errorf("experiment: example %d has label %d, but the net has %d classes (0 to %d)", i, l, classes, classes-1)
		}
	}
	return nil
}

// convPassBatch caps the batches of Evaluate and Gradient for convolutional models on the
// Go backend, whose convolution materializes the patch tensor of the whole batch (LeNet's
// second layer: 400 values per pixel, ~1.3 MB per image): a LeNet run evaluating in batches
// of 1,000 peaked at 2.8 GB of RSS, at 250 at 1.2 GB, in the same time.
const convPassBatch = 250

// passBatch is the batch size Evaluate and Gradient use when asked for batchSize.
func (n *Net) passBatch(batchSize int) int {
	if batchSize <= 0 {
		batchSize = DefaultEvalBatchSize
	}
	if n.Model.Name() != "mlp" && models.IsGoBackend(n.Backend) {
		return min(batchSize, convPassBatch)
	}
	return batchSize
}

// batchCache keeps the image batches of the splits a Net (or an ensemble) evaluates, as
// tensors that stay in the device's memory after their first use, so that an evaluation
// after every epoch, and of every run a study worker trains, sends its images to the
// device once. It holds the last maxCachedSplits (split, batch size) pairs, a run's
// training and test splits. A nil *batchCache keeps nothing: on the Go backend the
// tensors are host memory already, and a copy of every split would only add to it.
type batchCache struct {
	entries []cachedSplit // least recently used first
}

type cachedSplit struct {
	split   *datasets.Split
	size    int
	batches []*tensors.Tensor
}

const maxCachedSplits = 2

// newBatchCache returns a cache for backend: nil (no cache) for the Go backend.
func newBatchCache(backend compute.Backend) *batchCache {
	if models.IsGoBackend(backend) {
		return nil
	}
	return &batchCache{}
}

// forEach is forEachBatch, with the batches kept in c (if not nil) for the next call.
func (c *batchCache) forEach(split *datasets.Split, batchSize int, fn func(images *tensors.Tensor, start, count int) error) error {
	if c == nil {
		return forEachBatch(split, batchSize, func(images *tensors.Tensor, start, count int) error {
			defer images.FinalizeAll()
			return fn(images, start, count)
		})
	}
	var entry *cachedSplit
	for i := range c.entries {
		if e := c.entries[i]; e.split == split && e.size == batchSize {
			c.entries = append(append(c.entries[:i:i], c.entries[i+1:]...), e)
			entry = &c.entries[len(c.entries)-1]
			break
		}
	}
	if entry == nil {
		if len(c.entries) == maxCachedSplits {
			for _, t := range c.entries[0].batches {
				t.FinalizeAll()
			}
			c.entries = c.entries[1:]
		}
		var batches []*tensors.Tensor
		if err := forEachBatch(split, batchSize, func(images *tensors.Tensor, _, _ int) error {
			batches = append(batches, images)
			return nil
		}); err != nil {
			return err
		}
		c.entries = append(c.entries, cachedSplit{split: split, size: batchSize, batches: batches})
		entry = &c.entries[len(c.entries)-1]
	}
	bs := min(batchSize, split.Len())
	for i, images := range entry.batches {
		start := i * bs
		if err := fn(images, start, min(bs, split.Len()-start)); err != nil {
			return err
		}
	}
	return nil
}

// forEachBatch feeds split in batches of a fixed size, batchSize (positive: see
// passBatch) or the split's size if smaller, the last one zero-padded so that one
// compiled graph serves all: fn gets the images (uint8, see unitPixels), the index of the
// first example and the number of real examples in the batch. The tensors are fn's.
func forEachBatch(split *datasets.Split, batchSize int, fn func(images *tensors.Tensor, start, count int) error) error {
	bs := min(batchSize, split.Len())
	size := split.ImageSize()
	for start := 0; start < split.Len(); start += bs {
		count := min(bs, split.Len()-start)
		images := tensors.FromShape(shapes.Make(dtypes.Uint8, bs, split.Height, split.Width, split.Channels))
		if err := tensors.MutableFlatData(images, func(flat []uint8) {
			copy(flat, split.Images[start*size:(start+count)*size])
		}); err != nil {
			return err
		}
		if err := fn(images, start, count); err != nil {
			return err
		}
	}
	return nil
}

// crossEntropy returns the per-example cross-entropy of logits [B, C] against int32 labels [B].
func crossEntropy(logits, labels *Node) *Node {
	logp := LogSoftmax(logits, -1)
	onehot := OneHot(labels, logits.Shape().Dim(-1), logits.DType())
	return Neg(ReduceSum(Mul(logp, onehot), -1))
}

// recoverError runs fn, converting a panic (e.g. from graph building) into an error.
func recoverError(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = fmt.Errorf("experiment: %w", e)
			} else {
				err = fmt.Errorf("experiment: %v", r)
			}
		}
	}()
	return fn()
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
