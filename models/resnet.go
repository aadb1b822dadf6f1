package models

import (
	"github.com/gomlx/gomlx/core/graph"
	gmodel "github.com/gomlx/gomlx/ml/model"
)

// resNetStages are the channels and first-block strides of the ResNet's stages.
var resNetStages = []struct{ channels, stride int }{{16, 1}, {32, 2}, {64, 2}}

func buildResNet(m *Model, scope *gmodel.Scope, images *graph.Node, training bool) *graph.Node {
	c := m.config
	f := m.formulation(images.Graph())
	bn := func(s *gmodel.Scope, x *graph.Node) *graph.Node {
		return batchNorm(s, x, training, c.BatchNormMomentum, c.BatchNormEpsilon)
	}
	stem := scope.In("stem")
	x := relu(bn(stem, conv2d(stem, toCNHW(images), 3, 16, 1, 1, false, f)))
	for si, stage := range resNetStages {
		stageScope := scope.In("stage_%d", si)
		for bi := range c.Blocks {
			stride := 1
			if bi == 0 {
				stride = stage.stride
			}
			block := stageScope.In("block_%d", bi)
			x = basicBlock(block, x, stage.channels, stride, c.Shortcut3x3, f, bn)
		}
	}
	x = graph.Transpose(graph.ReduceMean(x, 2, 3), 0, 1) // global average pooling: [N, 64]
	fc := newDenseChain(x, f)
	fc.dense(scope.In("fc"), c.Classes)
	return fc.output()
}

// basicBlock is conv3x3(stride)-BN-ReLU-conv3x3-BN plus a shortcut (identity, or
// conv1x1(stride)-BN when the shape changes; conv3x3 with shortcut3x3), then ReLU.
func basicBlock(scope *gmodel.Scope, x *graph.Node, channels, stride int, shortcut3x3 bool, f Formulation,
	bn func(*gmodel.Scope, *graph.Node) *graph.Node) *graph.Node {
	s1, s2 := scope.In("conv_0"), scope.In("conv_1")
	y := relu(bn(s1, conv2d(s1, x, 3, channels, stride, 1, false, f)))
	y = bn(s2, conv2d(s2, y, 3, channels, 1, 1, false, f))
	shortcut := x
	if stride != 1 || x.Shape().Dim(0) != channels {
		s := scope.In("shortcut")
		kernel, pad := 1, 0
		if shortcut3x3 {
			kernel, pad = 3, 1
		}
		shortcut = bn(s, conv2d(s, x, kernel, channels, stride, pad, false, f))
	}
	return relu(graph.Add(y, shortcut))
}
