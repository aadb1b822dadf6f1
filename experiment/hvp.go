package experiment

import (
	"fmt"
	"strings"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/models"
)

// HessianVectorProduct returns H·v, where H is the Hessian of the mean cross-entropy over
// split (inference mode; labels default to the split's own) with respect to the model's
// trainable parameters, at the net's weights. It is exact, not a finite difference: the
// gradient of ⟨∇loss, v⟩, differentiating the gradient graph again. Where a ReLU switches,
// the Hessian is that of the piece the weights are on, as autograd frameworks give it.
// v has the tensors of Weights; its non-trainable ones are ignored, and the result's are
// zero, as Gradient's.
//
// The graph builds the model with the models.Autodiff formulation, over the same
// variables: the Go backend's faster Matmul formulation, which training uses, stops the
// gradient of its convolution patches under a hand-written input gradient, so that
// differentiating its gradient again loses the terms through the patches (for LeNet and
// the ResNet uᵀHv and vᵀHu differed by up to 30%).
func (n *Net) HessianVectorProduct(split *datasets.Split, batchSize int, labels []uint8, v *Weights) (*Weights, error) {
	batchSize, labels, err := n.passInputs(split, batchSize, labels)
	if err != nil {
		return nil, err
	}
	trainable := n.trainableVariables()
	direction := make([]any, len(trainable))
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
		config := n.Model.Config()
		config.Formulation = models.Autodiff
		model, err := models.New(n.Model.Name(), config)
		if err != nil {
			return nil, fmt.Errorf("experiment: the %s for Hessian-vector products: %w", n.Model.Name(), err)
		}
		n.hvpExec, err = gmodel.NewExec(n.Backend, n.Store, func(scope *gmodel.Scope, inputs []*Node) []*Node {
			loss, params, used := n.lossGraph(model, scope, inputs[0], inputs[1], inputs[2])
			n.hvpNames = n.trainableNames(used)
			grads := Gradient(loss, params...)
			var gv *Node // <∇loss, v>
			for i, k := range used {
				term := ReduceAllSum(Mul(grads[i], inputs[3+k]))
				if gv == nil {
					gv = term
				} else {
					gv = Add(gv, term)
				}
			}
			return Gradient(gv, params...)
		})
		if err != nil {
			return nil, err
		}
	}
	hv, _, err := n.meanOverSplit(n.hvpExec, &n.hvpNames, 0, split, batchSize, labels, direction)
	if err != nil {
		return nil, fmt.Errorf("experiment: computing a Hessian-vector product: %w", err)
	}
	return hv, nil
}
