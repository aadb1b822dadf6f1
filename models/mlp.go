package models

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers/activation"
	gmodel "github.com/gomlx/gomlx/ml/model"
)

func buildMLP(m *Model, scope *gmodel.Scope, images *graph.Node, _ bool) *graph.Node {
	x := flatten(images)
	x = activation.Relu(dense(scope.In("dense_0"), x, m.config.Hidden, true))
	return dense(scope.In("dense_1"), x, m.config.Classes, true)
}
