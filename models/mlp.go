package models

import (
	"github.com/gomlx/gomlx/core/graph"
	gmodel "github.com/gomlx/gomlx/ml/model"
)

func buildMLP(m *Model, scope *gmodel.Scope, images *graph.Node, _ bool) *graph.Node {
	x := flatten(images)
	x = relu(dense(scope.In("dense_0"), x, m.config.Hidden, true), m.formulation(images.Graph()))
	return dense(scope.In("dense_1"), x, m.config.Classes, true)
}
