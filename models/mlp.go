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
