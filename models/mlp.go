package models

import (
	"github.com/gomlx/gomlx/core/graph"
	gmodel "github.com/gomlx/gomlx/ml/model"
)

func buildMLP(m *Model, scope *gmodel.Scope, images *graph.Node, _ bool) *graph.Node {
	c := newDenseChain(flatten(images), m.formulation(images.Graph()))
	c.dense(scope.In("dense_0"), m.config.Hidden)
	c.relu()
	c.dense(scope.In("dense_1"), m.config.Classes)
	return c.output()
}

// buildEnsembleMLP is the MLP of K members at once: images [K, batch, H, W, C] to logits
// [K, batch, classes]. Each layer stacks the members' weights ([K, out, in]) and biases
// and applies one batched matmul, so K small models make one larger product per layer.
func buildEnsembleMLP(m *Model, scopes []*gmodel.Scope, images *graph.Node, _ bool) *graph.Node {
	k, batch := images.Shape().Dim(0), images.Shape().Dim(1)
	x := graph.Reshape(images, k, batch, -1)
	x = stackedDense(scopes, "dense_0", x, m.config.Hidden)
	x = relu(x)
	return stackedDense(scopes, "dense_1", x, m.config.Classes)
}

// stackedDense is the dense layer name of every member (its variables in scopes[i].In(name),
// as dense creates them) applied to x [K, batch, in]: [K, batch, out].
func stackedDense(scopes []*gmodel.Scope, name string, x *graph.Node, out int) *graph.Node {
	ws := make([]*graph.Node, len(scopes))
	bs := make([]*graph.Node, len(scopes))
	for i, scope := range scopes {
		ws[i], bs[i] = denseVariables(scope.In("%s", name), x.Graph(), x.DType(), x.Shape().Dim(-1), out)
	}
	w, b := graph.Stack(ws, 0), graph.Stack(bs, 0) // [K, out, in], [K, out]
	y := graph.DotGeneral(x, []int{2}, []int{0}, w, []int{2}, []int{0})
	return graph.Add(y, graph.InsertAxes(b, 1))
}
