package models

import (
	"github.com/gomlx/gomlx/core/graph"
	gmodel "github.com/gomlx/gomlx/ml/model"
)

func buildMLP(m *Model, scope *gmodel.Scope, images *graph.Node, _ bool) *graph.Node {
	f := m.formulation(images.Graph())
	x := flatten(images)
	x = relu(dense(scope.In("dense_0"), x, m.config.Hidden, true, f), f)
	return dense(scope.In("dense_1"), x, m.config.Classes, true, f)
}
