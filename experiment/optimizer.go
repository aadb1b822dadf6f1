package experiment

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	gmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

// learningRateVariable returns the variable the optimizers read their learning rate from
// (created by the first training-step graph), or nil before that.
func learningRateVariable(store *gmodel.Store) *gmodel.Variable {
	return store.GetVariable("/" + optimizer.Scope + "/" + optimizer.ParamLearningRate)
}

// newOptimizer returns the GoMLX optimizer for o (defaults filled in).
func newOptimizer(o Optimizer) (optimizer.Interface, error) {
	o = o.WithDefaults()
	switch o.Name {
	case Adam:
		return optimizer.Adam().LearningRate(o.LearningRate).Epsilon(o.Epsilon).Betas(o.Beta1, o.Beta2).Done(), nil
	case SGD:
		return &sgdMomentum{learningRate: o.LearningRate, momentum: o.Momentum}, nil
	}
	return nil, fmt.Errorf("experiment: unknown optimizer %q, want %q or %q", o.Name, Adam, SGD)
}

// sgdMomentum is SGD with optional heavy-ball momentum, PyTorch's formulation:
// b ← μ·b + g; w ← w − lr·b. GoMLX's SGD has neither momentum nor a constant rate by default.
type sgdMomentum struct {
	learningRate, momentum float64
}

const sgdScope = "sgd_momentum"

// UpdateGraph implements optimizer.Interface.
func (o *sgdMomentum) UpdateGraph(scope *gmodel.Scope, g *Graph, loss *Node) {
	grads := scope.BuildTrainableVariablesGradientsGraph(loss)
	var vars []*gmodel.Variable // collected first: the loop creates momentum variables.
	for v := range scope.IterVariables() {
		if v.Trainable && v.InUseByGraph(g) {
			vars = append(vars, v)
		}
	}
	// The rate lives in GoMLX's learning-rate variable, as Adam's does, so that a schedule
	// can set it between steps.
	learningRate := optimizer.LearningRateVar(scope, dtypes.Float32, o.learningRate).NodeValue(g)
	for i, v := range vars {
		step := grads[i]
		if o.momentum > 0 {
			buf := scope.Store().Scope("/"+sgdScope+v.Scope()).
				WithInitializer(initializer.Zero).
				VariableWithShape(v.Name()+"_momentum", shapes.Make(v.DType(), v.Shape().Dimensions...)).
				SetTrainable(false)
			step = Add(MulScalar(buf.NodeValue(g), o.momentum), step)
			buf.SetNodeValue(step)
		}
		v.SetNodeValue(Sub(v.NodeValue(g), Mul(step, ConvertDType(learningRate, step.DType()))))
	}
}

// Clear implements optimizer.Interface.
func (o *sgdMomentum) Clear(scope *gmodel.Scope) error {
	return scope.Store().DeleteVariablesInScope("/" + sgdScope)
}
