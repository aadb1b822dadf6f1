package experiment

import (
	"errors"
	"fmt"
	"strings"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/extremepoints/esp/datasets"
)

// ExactHVP reports whether HessianVectorProduct is available for the net's model: for the
// MLP it matches the Hessian computed apart (and is symmetric); through the convolution
// models' gradient graphs, differentiated again on the Go backend, uᵀHv and vᵀHu differ,
// so they are left to finite differences of gradients.
func (n *Net) ExactHVP() bool { return ExactHVPModel(n.Model.Name()) }

// ExactHVPModel reports whether Net.HessianVectorProduct is available for the named model.
func ExactHVPModel(model string) bool { return model == "mlp" }

// ErrNoExactHVP is returned when exact Hessian-vector products are asked of a model
// without them (see Net.ExactHVP).
var ErrNoExactHVP = errors.New("exact Hessian-vector products are available for the mlp only")

// HessianVectorProduct returns H·v, where H is the Hessian of the mean cross-entropy over
// split (inference mode; labels default to the split's own) with respect to the model's
// trainable parameters, at the net's weights. It is exact, not a finite difference: the
// gradient of ⟨∇loss, v⟩, differentiating the gradient graph again. Where a ReLU switches,
// the Hessian is that of the piece the weights are on, as autograd frameworks give it.
// v has the tensors of Weights; its non-trainable ones are ignored, and the result's are
// zero, as Gradient's. It returns an error for models without ExactHVP.
func (n *Net) HessianVectorProduct(split *datasets.Split, batchSize int, labels []uint8, v *Weights) (*Weights, error) {
	if !n.ExactHVP() {
		return nil, fmt.Errorf("experiment: %w, not the %s: differentiating its gradient graph again gives a Hessian that is not symmetric (uᵀHv ≠ vᵀHu)",
			ErrNoExactHVP, n.Model.Name())
	}
	batchSize = n.passBatch(batchSize)
	if err := n.checkSplit(split); err != nil {
		return nil, err
	}
	if labels == nil {
		labels = split.Labels
	}
	if err := n.checkLabels(labels, split.Len()); err != nil {
		return nil, err
	}
	var trainable []*gmodel.Variable
	for _, variable := range n.modelVariables() {
		if variable.Trainable {
			trainable = append(trainable, variable)
		}
	}
	direction := make([]*tensors.Tensor, len(trainable))
	for i, variable := range trainable {
		name := strings.TrimPrefix(variable.Path(), modelPrefix)
		t := v.Tensor(name)
		if t == nil {
			return nil, fmt.Errorf("experiment: the direction has no tensor %q", name)
		}
		if want := variable.Shape().Size(); len(t.Data) != want {
			return nil, fmt.Errorf("experiment: the direction's %q has %d values, the model's %d", name, len(t.Data), want)
		}
		direction[i] = tensors.FromFlatDataAndDimensions(t.Data, variable.Shape().Dimensions...)
	}
	if n.hvpExec == nil {
		var err error
		n.hvpExec, err = gmodel.NewExec(n.Backend, n.Store, func(scope *gmodel.Scope, inputs []*Node) []*Node {
			images, labels, mask, v := inputs[0], inputs[1], inputs[2], inputs[3:]
			g := images.Graph()
			readVariablesAtRun(scope, g)
			logits := n.Model.Logits(scope.In(modelScope), unitPixels(images), false)
			loss := ReduceAllSum(Mul(crossEntropy(logits, labels), mask))
			var params, dirs []*Node
			n.hvpNames = n.hvpNames[:0]
			for i, variable := range trainable {
				if variable.InUseByGraph(g) {
					params = append(params, variable.NodeValue(g))
					dirs = append(dirs, v[i])
					n.hvpNames = append(n.hvpNames, strings.TrimPrefix(variable.Path(), modelPrefix))
				}
			}
			grads := Gradient(loss, params...)
			gv := ReduceAllSum(Mul(grads[0], dirs[0]))
			for i := 1; i < len(grads); i++ {
				gv = Add(gv, ReduceAllSum(Mul(grads[i], dirs[i])))
			}
			return Gradient(gv, params...)
		})
		if err != nil {
			return nil, err
		}
	}
	hv, err := n.Weights()
	if err != nil {
		return nil, err
	}
	acc := make(map[string][]float64)
	for _, t := range hv.Tensors {
		acc[t.Name] = make([]float64, len(t.Data))
	}
	extra := make([]any, len(direction))
	for i, d := range direction {
		extra[i] = d
	}
	err = n.sumBatches(n.hvpExec, split, batchSize, labels, extra, func(i int, data []float32) {
		dst := acc[n.hvpNames[i]]
		for j, x := range data {
			dst[j] += float64(x)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("experiment: computing a Hessian-vector product: %w", err)
	}
	count := float64(split.Len())
	for i := range hv.Tensors {
		t := &hv.Tensors[i]
		for j, x := range acc[t.Name] {
			t.Data[j] = float32(x / count)
		}
	}
	return hv, nil
}
