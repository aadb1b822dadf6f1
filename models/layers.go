package models

import (
	"math"

	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads better unqualified.
	gmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
)

// xavierUniform is the Glorot uniform initializer with explicit fans (PyTorch's
// xavier_uniform_): U(-a, a), a = sqrt(6 / (fanIn + fanOut)). GoMLX's initializer
// infers the fans from a [..., in, out] layout, which our weights do not use.
func xavierUniform(scope *gmodel.Scope, fanIn, fanOut int) gmodel.VariableInitializer {
	store := scope.Store()
	return func(g *Graph, shape shapes.Shape) *Node {
		limit := math.Sqrt(6 / float64(fanIn+fanOut))
		return AddScalar(MulScalar(store.RandomUniform(g, shape), 2*limit), -limit)
	}
}

// dense is x·Wᵀ + b with W shaped [out, in] and b [out]; x must be rank 2.
// W is stored [out, in] because the Go backend's matmul is fastest with both operands
// contracting on their last axis ("transposed" layout): a training step of the MLP
// took 17 ms instead of 28 ms with [in, out].
func dense(scope *gmodel.Scope, x *Node, out int, bias bool) *Node {
	in := x.Shape().Dim(-1)
	w := scope.WithInitializer(xavierUniform(scope, in, out)).
		VariableWithShape("weights", shapes.Make(x.DType(), out, in)).NodeValue(x.Graph())
	y := DotGeneral(x, []int{1}, nil, w, []int{1}, nil)
	if bias {
		b := scope.VariableWithShape("biases", shapes.Make(x.DType(), out)).NodeValue(x.Graph())
		y = Add(y, InsertAxes(b, 0))
	}
	return y
}

// Convolutional layers work on activations laid out channels-first, [C, N, H, W]
// ("CNHW"): with it every matmul of the matmul formulation (forward, and both
// gradients) has its contracting axes last (or first) and needs no transpose of the
// large activation tensors on the Go backend; in NHWC the weight gradient transposed
// the whole patch tensor. Models convert the NHWC input once (toCNHW) and flatten
// back to [N, features] before the dense layers (flattenCNHW).

// toCNHW transposes images [N, H, W, C] to [C, N, H, W].
func toCNHW(x *Node) *Node { return TransposeAllAxes(x, 3, 0, 1, 2) }

// flattenCNHW turns [C, N, H, W] activations into [N, C*H*W] features.
func flattenCNHW(x *Node) *Node {
	return flatten(TransposeAllAxes(x, 1, 0, 2, 3))
}

// flatten reshapes [batch, ...] to [batch, features].
func flatten(x *Node) *Node {
	return Reshape(x, x.Shape().Dim(0), -1)
}

// conv2d is a 2D convolution of x [Cin, N, H, W] with a kernel variable shaped
// [cout, k, k, Cin] (output channels first, for the same reason as dense), zero
// padding pad on each side, the given stride, and an optional bias; output
// [cout, N, Ho, Wo] with Ho = (H + 2*pad - k)/stride + 1.
func conv2d(scope *gmodel.Scope, x *Node, k, cout, stride, pad int, bias bool, f Formulation) *Node {
	g := x.Graph()
	cin := x.Shape().Dim(0)
	kernel := scope.WithInitializer(xavierUniform(scope, k*k*cin, k*k*cout)).
		VariableWithShape("weights", shapes.Make(x.DType(), cout, k, k, cin)).NodeValue(g)
	var y *Node
	if resolveFormulation(f, g) == Matmul {
		y = convMatmul(x, kernel, stride, pad)
	} else {
		y = convNative(x, kernel, stride, pad)
	}
	if bias {
		b := scope.VariableWithShape("biases", shapes.Make(x.DType(), cout)).NodeValue(g)
		y = Add(y, Reshape(b, cout, 1, 1, 1))
	}
	return y
}

// convNative uses the backend's convolution op (NHWC, kernel [kh, kw, cin, cout]),
// transposing around it: XLA fuses such transposes.
func convNative(x, kernel *Node, stride, pad int) *Node {
	y := Convolve(TransposeAllAxes(x, 1, 2, 3, 0), TransposeAllAxes(kernel, 1, 2, 3, 0)).
		PaddingPerDim([][2]int{{pad, pad}, {pad, pad}}).
		Strides(stride).
		Done()
	return TransposeAllAxes(y, 3, 0, 1, 2)
}

// convMatmul writes the convolution as kh*kw shifted (strided) slices of the padded
// input [Cin, N, H, W], concatenated on the channel axis into patches
// [kh*kw*Cin, N, Ho, Wo], and one matmul with the kernel [Cout, kh, kw, Cin]
// reshaped (for free: row-major order matches) to [Cout, kh*kw*Cin].
func convMatmul(x, kernel *Node, stride, pad int) *Node {
	dims := x.Shape().Dimensions
	h, w := dims[2], dims[3]
	kdims := kernel.Shape().Dimensions
	cout, kh, kw, cin := kdims[0], kdims[1], kdims[2], kdims[3]
	if pad > 0 {
		x = padSpatial(x, pad)
	}
	ho := (h+2*pad-kh)/stride + 1
	wo := (w+2*pad-kw)/stride + 1
	patches := make([]*Node, 0, kh*kw)
	for i := range kh {
		for j := range kw {
			rows := AxisRange(i, i+(ho-1)*stride+1)
			cols := AxisRange(j, j+(wo-1)*stride+1)
			if stride > 1 {
				rows = rows.Stride(stride)
				cols = cols.Stride(stride)
			}
			patches = append(patches, Slice(x, AxisRange(), AxisRange(), rows, cols))
		}
	}
	p := patches[0]
	if len(patches) > 1 {
		p = Concatenate(patches, 0)
	}
	k2 := Reshape(kernel, cout, kh*kw*cin)
	return DotGeneral(k2, []int{1}, nil, p, []int{0}, nil)
}

// padSpatial zero-pads axes 2 and 3 (H, W) of x [C, N, H, W] by pad on both sides.
// It concatenates zeros instead of using the Pad op, which has no gradient in GoMLX.
func padSpatial(x *Node, pad int) *Node {
	g := x.Graph()
	for _, axis := range []int{2, 3} {
		dims := x.Shape().Clone()
		dims.Dimensions[axis] = pad
		zeros := Zeros(g, dims)
		x = Concatenate([]*Node{zeros, x, zeros}, axis)
	}
	return x
}

// maxPool2x2 is a 2x2 max-pooling with stride 2 of x [C, N, H, W]; odd trailing
// rows/columns are dropped (as PyTorch's floor mode does).
func maxPool2x2(x *Node, f Formulation) *Node {
	if resolveFormulation(f, x.Graph()) == Native {
		y := MaxPool(TransposeAllAxes(x, 1, 2, 3, 0)).Window(2).Strides(2).NoPadding().Done()
		return TransposeAllAxes(y, 3, 0, 1, 2)
	}
	return maxPoolReshape(x)
}

// maxPoolReshape is 2x2/stride 2 max-pooling of [C, N, H, W] as a Reshape to
// [C, N, H/2, 2, W/2, 2] + ReduceMax.
func maxPoolReshape(x *Node) *Node {
	dims := x.Shape().Dimensions
	c, n, h, w := dims[0], dims[1], dims[2], dims[3]
	if h%2 != 0 || w%2 != 0 {
		x = Slice(x, AxisRange(), AxisRange(), AxisRange(0, h-h%2), AxisRange(0, w-w%2))
	}
	x = Reshape(x, c, n, h/2, 2, w/2, 2)
	return ReduceMax(x, 3, 5)
}

// batchNorm normalizes x [C, N, H, W] per channel. See the package documentation.
func batchNorm(scope *gmodel.Scope, x *Node, training bool, momentum, epsilon float64) *Node {
	g := x.Graph()
	c := x.Shape().Dim(0)
	shape := shapes.Make(x.DType(), c)
	scope = scope.In("batch_norm")
	scale := scope.WithInitializer(initializer.One).VariableWithShape("scale", shape)
	offset := scope.WithInitializer(initializer.Zero).VariableWithShape("offset", shape)
	runMeanVar := scope.WithInitializer(initializer.Zero).VariableWithShape("running_mean", shape).SetTrainable(false)
	runVarVar := scope.WithInitializer(initializer.One).VariableWithShape("running_var", shape).SetTrainable(false)

	var mean, variance *Node
	if training {
		axes := []int{1, 2, 3}
		mean = ReduceMean(x, axes...)
		centered := Sub(x, Reshape(mean, c, 1, 1, 1))
		variance = ReduceMean(Square(centered), axes...)
		count := float64(x.Shape().Size() / c)
		unbiased := variance
		if count > 1 {
			unbiased = MulScalar(variance, count/(count-1))
		}
		runMean := runMeanVar.NodeValue(g)
		runVar := runVarVar.NodeValue(g)
		runMeanVar.SetNodeValue(Add(MulScalar(runMean, 1-momentum), MulScalar(StopGradient(mean), momentum)))
		runVarVar.SetNodeValue(Add(MulScalar(runVar, 1-momentum), MulScalar(StopGradient(unbiased), momentum)))
	} else {
		mean = runMeanVar.NodeValue(g)
		variance = runVarVar.NodeValue(g)
	}
	// y = (x - mean) * scale / sqrt(var + eps) + offset, folded into one multiply-add per element.
	// Div + Sqrt rather than Rsqrt: GoMLX has no gradient for Rsqrt.
	factor := Div(scale.NodeValue(g), Sqrt(AddScalar(variance, epsilon)))
	shift := Sub(offset.NodeValue(g), Mul(mean, factor))
	return Add(Mul(x, Reshape(factor, c, 1, 1, 1)), Reshape(shift, c, 1, 1, 1))
}
