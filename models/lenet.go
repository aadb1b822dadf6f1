package models

import (
	"github.com/gomlx/gomlx/core/graph"
	gmodel "github.com/gomlx/gomlx/ml/model"
)

// leNetFilters are the filters of LeNet's convolutions, in order.
var leNetFilters = [...]int{16, 32, 64}

// LeNetMaxConvs is the most convolutions LeNet has (Config.Convs from 1 to it).
const LeNetMaxConvs = len(leNetFilters)

func buildLeNet(m *Model, scope *gmodel.Scope, images *graph.Node, _ bool) *graph.Node {
	f := m.formulation(images.Graph())
	dims := images.Shape().Dimensions
	pools := m.config.leNetPools(dims[1], dims[2], dims[3])
	x := toCNHW(images)
	for i, filters := range leNetFilters[:m.config.leNetConvs()] {
		x = relu(conv2d(scope.In("conv_%d", i), x, 5, filters, 1, 2, true, f))
		if i < pools {
			x = maxPool2x2(x, f)
		}
	}
	c := newDenseChain(flattenCNHW(x), f)
	c.dense(scope.In("fc_0"), m.config.FCHidden)
	if m.config.FCReLU {
		c.relu()
	}
	c.dense(scope.In("fc_1"), m.config.Classes)
	return c.output()
}

// leNetConvs is the number of LeNet's convolutions: Convs, 0 meaning all three.
func (c Config) leNetConvs() int {
	if c.Convs == 0 {
		return LeNetMaxConvs
	}
	return c.Convs
}

// leNetPools is the number of LeNet's 2x2 max-pools for images of height x width x
// channels: one after each of the first two convolutions, and after the third too for
// CIFAR-10 (32x32x3 inputs), as the authors have it. They follow the first convolutions.
func (c Config) leNetPools(height, width, channels int) int {
	convs := c.leNetConvs()
	if convs == 3 && height == 32 && width == 32 && channels == 3 {
		return 3
	}
	return min(convs, 2)
}
