package models

import (
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads better unqualified.
	gmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/support/exceptions"
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

// denseVariables returns the weight [out, in] and the bias [out] of a dense layer. W is
// stored [out, in] because the Go backend's matmul is fastest with both operands
// contracting on their last axis ("transposed" layout): a training step of the MLP took
// 17 ms instead of 28 ms with [in, out].
func denseVariables(scope *gmodel.Scope, g *Graph, dtype dtypes.DType, in, out int) (w, b *Node) {
	w = scope.WithInitializer(xavierUniform(scope, in, out)).
		VariableWithShape("weights", shapes.Make(dtype, out, in)).NodeValue(g)
	b = scope.VariableWithShape("biases", shapes.Make(dtype, out)).NodeValue(g)
	return w, b
}

// dense is x·Wᵀ + b for x [batch, in]: GoMLX's DotGeneral and its own gradients.
func dense(scope *gmodel.Scope, x *Node, out int) *Node {
	w, b := denseVariables(scope, x.Graph(), x.DType(), x.Shape().Dim(-1), out)
	return Add(DotGeneral(x, []int{1}, nil, w, []int{1}, nil), InsertAxes(b, 0))
}

// denseChain applies dense layers (and ReLUs) one after the other to x [batch, in].
//
// With the Matmul formulation (the Go backend) it keeps the activations between them
// feature-major, [features, batch]: each layer computes yᵀ = W·xᵀ, so that the
// forward product and both gradients of every layer have layouts the Go backend's
// matmul takes without transposing a large operand (see matmulFeatureMajor). Only the
// logits, [classes, batch], are transposed back at the end. The Autodiff formulation
// does the same: matmulFeatureMajor's gradients are plain products of the layer's
// original inputs and its output's gradient, which autodiff differentiates again (the
// MLP's Hessian-vector product took 13% less time than with GoMLX's own gradients). On
// the Native formulation it is a chain of dense layers.
type denseChain struct {
	x            *Node
	f            Formulation
	featureMajor bool // x is [features, batch]
}

func newDenseChain(x *Node, f Formulation) *denseChain {
	return &denseChain{x: x, f: resolveFormulation(f, x.Graph())}
}

// dense adds a dense layer with out units and a bias, its variables in scope.
func (c *denseChain) dense(scope *gmodel.Scope, out int) {
	if c.f != Matmul && c.f != Autodiff {
		c.x = dense(scope, c.x, out)
		return
	}
	inAxis := 1
	if c.featureMajor {
		inAxis = 0
	}
	w, b := denseVariables(scope, c.x.Graph(), c.x.DType(), c.x.Shape().Dim(inAxis), out)
	c.x = Add(matmulFeatureMajor(w, c.x, c.featureMajor), InsertAxes(b, 1))
	c.featureMajor = true
}

// relu applies the ReLU to the current activations.
func (c *denseChain) relu() { c.x = relu(c.x) }

// output returns the activations as [batch, features].
func (c *denseChain) output() *Node {
	if c.featureMajor {
		return Transpose(c.x, 0, 1)
	}
	return c.x
}

// matmulFeatureMajor is W·xᵀ, shaped [out, batch], for W [out, in] and x [batch, in]
// (or W·x for x already feature-major, [in, batch]), with its gradients written out:
//
//	forward:  W [out, in] · x contracting in          (x [batch, in]: "transposed" layout)
//	dW:       dy [out, batch] · x contracting batch   ([out, in], no transpose)
//	dx:       for x [in, batch]: Wᵀ·dy, transposing only W; for x [batch, in]: dyᵀ·W,
//	          transposing only dy [out, batch]
//
// GoMLX's own gradient of DotGeneral transposes its results back into the operands'
// axis order, which on the Go backend copied the activations and gradients element by
// element (17% of the MLP's training step in transposes; 9% with the earlier
// batch-major custom weight gradient).
func matmulFeatureMajor(w, x *Node, featureMajor bool) *Node {
	batchAxis, inAxis := 0, 1
	if featureMajor {
		batchAxis, inAxis = 1, 0
	}
	upstream := &outputGradient{op: "dense"}
	wIn, xIn := w, x
	w = IdentityWithCustomGradient(wIn, func(_, _ *Node) *Node {
		return DotGeneral(upstream.get(), []int{1}, nil, xIn, []int{batchAxis}, nil) // [out, in]
	})
	x = IdentityWithCustomGradient(xIn, func(_, _ *Node) *Node {
		// The small operand is transposed explicitly so that the product is a plain
		// [m, k]·[k, n]: given W or dy contracting on their first axis, the Go backend
		// transposes both operands and for k = 10 (the logits) falls on a kernel that
		// took 9.4 ms for the MLP's [512, 128] gradient, against 0.4 ms this way.
		if featureMajor {
			return DotGeneral(Transpose(wIn, 0, 1), []int{1}, nil, upstream.get(), []int{0}, nil) // [in, batch]
		}
		return DotGeneral(Transpose(upstream.get(), 0, 1), []int{1}, nil, wIn, []int{0}, nil) // [batch, in]
	})
	return upstream.capture(DotGeneral(w, []int{1}, nil, x, []int{inAxis}, nil))
}

// outputGradient hands the gradient reaching an op's output to the custom gradients of
// its inputs: capture wraps the output, whose gradient reverse autodiff computes before
// those of the inputs (they are upstream of it), and get returns it there.
type outputGradient struct {
	op string // for the message of a misordered use
	v  *Node
}

func (o *outputGradient) capture(y *Node) *Node {
	return IdentityWithCustomGradient(y, func(_, v *Node) *Node {
		o.v = v
		return v
	})
}

func (o *outputGradient) get() *Node {
	if o.v == nil {
		exceptions.Panicf("models: %s input gradient requested before its output gradient", o.op)
	}
	return o.v
}

// relu is max(x, 0), written as x·mask with the mask (x > 0) held constant, on every
// backend: its gradient at 0 is 0, as PyTorch's is (GoMLX's Max gives 1 there,
// and at initialization, with zero biases, a blank background puts many activations at
// exactly 0), and it is one multiply, where GoMLX's gradient of Max takes five
// element-wise passes (Sub, Sign, Add, Sign, Mul) over the activations.
func relu(x *Node) *Node {
	mask := StopGradient(ConvertDType(GreaterThan(x, ZerosLike(x)), x.DType()))
	return Mul(x, mask)
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
	switch resolveFormulation(f, g) {
	case Matmul:
		y = convMatmul(x, kernel, stride, pad)
	case Autodiff:
		y = convAutodiff(x, kernel, stride, pad)
	default:
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

// convMatmul writes the convolution as kh*kw shifted (strided) windows of the padded
// input [Cin, N, H, W], concatenated on the channel axis into patches
// [kh*kw*Cin, N, Ho, Wo], and one matmul with the kernel [Cout, kh, kw, Cin]
// reshaped (for free: row-major order matches) to [Cout, kh*kw*Cin].
//
// The gradient with respect to x is not left to autodiff: on the Go backend it
// transposed the whole patch tensor twice (the matmul's gradient has its contracting
// axis first) and turned each of the kh*kw windows into a zero-filled Pad of the input's
// size plus an Add, which together took most of a LeNet training step. Instead
// convInputGrad computes it directly (see there); the kernel's gradient stays with
// autodiff, whose matmul already has the fast layout. The patches have their gradient
// stopped, so GoMLX builds no gradient for the ops that make them, and x reaches the
// output through a term that is zero in value and carries convInputGrad as x's
// gradient. That lets a stride-1 convolution gather its windows (cropPatches), which
// the Go backend copies row by row, where Slice copies element by element.
func convMatmul(x, kernel *Node, stride, pad int) *Node {
	dims := x.Shape().Dimensions
	h, w := dims[2], dims[3]
	kdims := kernel.Shape().Dimensions
	cout, kh, kw, cin := kdims[0], kdims[1], kdims[2], kdims[3]
	upstream := &outputGradient{op: "convolution"}
	customInputGrad := pad < kh && pad < kw
	var link *Node
	if customInputGrad {
		link = IdentityWithCustomGradient(x, func(_, _ *Node) *Node {
			return convInputGrad(upstream.get(), kernel, h, w, stride, pad)
		})
	}
	ho := (h+2*pad-kh)/stride + 1
	wo := (w+2*pad-kw)/stride + 1
	var p *Node
	switch {
	case customInputGrad && stride == 1:
		p = StopGradient(cropPatches(x, kh, kw, pad))
	case customInputGrad:
		p = StopGradient(slicePatches(x, kh, kw, ho, wo, stride, pad))
	default:
		p = slicePatches(x, kh, kw, ho, wo, stride, pad)
	}
	k2 := Reshape(kernel, cout, kh*kw*cin)
	y := DotGeneral(k2, []int{1}, nil, p, []int{0}, nil)
	if customInputGrad {
		// One element of x, times zero: the value of y is unchanged, and the gradient
		// that reaches link is replaced by convInputGrad.
		first := Reshape(Slice(link, AxisElem(0), AxisElem(0), AxisElem(0), AxisElem(0)))
		y = upstream.capture(Add(y, MulScalar(first, 0)))
	}
	return y
}

// convAutodiff is the convolution of the Autodiff formulation: every gradient it builds
// can be differentiated again. A convolution with a square kernel, pad < k, is
// twiceConv's: at stride 1 as it is, at a larger stride (k > 1) as the stride-1
// convolution spaceToDepth makes of it. Any other is convSlices'; so is a strided 1x1,
// which is a single strided Slice there.
func convAutodiff(x, kernel *Node, stride, pad int) *Node {
	k := kernel.Shape().Dim(1)
	if kernel.Shape().Dim(2) != k || pad >= k || (stride > 1 && k == 1) {
		return convSlices(x, kernel, stride, pad)
	}
	if stride > 1 {
		x, kernel, k = spaceToDepth(x, kernel, stride, pad)
		pad = 0
	}
	c := &twiceConv{k: k, patches: map[patchKey]*Node{}}
	return c.conv(x, kernel, pad)
}

// spaceToDepth rewrites the convolution of x [Cin, N, H, W] by kernel [Cout, k, k, Cin]
// with stride s and zero padding pad as an unpadded stride-1 convolution of x' by
// kernel', returned with k' = ⌈k/s⌉. The padded input's s x s blocks become channels,
// x' [s*s*Cin, N, H', W'] with x'[(p*s+q)*Cin + c, n, r, t] = padded x[c, n, s*r+p, s*t+q],
// and kernel' [Cout, k', k', s*s*Cin] has as tap (a, b) of channel (p*s+q)*Cin + c the
// original's tap (s*a+p, s*b+q) (zero beyond k). The output is the same,
// [Cout, N, Ho, Wo]. It is Pad, Slice, Reshape and Transpose, all differentiable any
// number of times, around a convolution twiceConv can build: convSlices' k*k strided
// Slices would be differentiated twice instead, each gradient a zero-filled Pad of the
// input's size. It costs (k'·s/k)² as many multiplications (16/9 for a 3x3 kernel at
// stride 2).
func spaceToDepth(x, kernel *Node, s, pad int) (xs, ks *Node, k2 int) {
	dims := x.Shape().Dimensions
	cin, n, h, w := dims[0], dims[1], dims[2], dims[3]
	kdims := kernel.Shape().Dimensions
	cout, k := kdims[0], kdims[1]
	k2 = (k + s - 1) / s
	ho, wo := (h+2*pad-k)/s+1, (w+2*pad-k)/s+1
	hs, ws := ho+k2-1, wo+k2-1 // the rows and columns of x' an unpadded k'xk' convolution reads
	zero := ScalarZero(x.Graph(), x.DType())
	// Pad to the blocks' s*hs rows, or past them where windows leave the last rows
	// unread (then cropped).
	padEnd := func(size, blocks int) int { return max(0, s*blocks-size-pad) }
	x = Pad(x, zero, PadAxis{}, PadAxis{}, PadAxis{Start: pad, End: padEnd(h, hs)}, PadAxis{Start: pad, End: padEnd(w, ws)})
	if x.Shape().Dim(2) > s*hs || x.Shape().Dim(3) > s*ws {
		x = Slice(x, AxisRange(), AxisRange(), AxisRange(0, s*hs), AxisRange(0, s*ws))
	}
	x = Reshape(x, cin, n, hs, s, ws, s)      // c, n, r, p, t, q
	x = TransposeAllAxes(x, 3, 5, 0, 1, 2, 4) // p, q, c, n, r, t
	xs = Reshape(x, s*s*cin, n, hs, ws)
	full := PadAxis{End: s*k2 - k}
	kernel = Pad(kernel, zero, PadAxis{}, full, full, PadAxis{})
	kernel = Reshape(kernel, cout, k2, s, k2, s, cin)   // o, a, p, b, q, c
	kernel = TransposeAllAxes(kernel, 0, 1, 3, 2, 4, 5) // o, a, b, p, q, c
	return xs, Reshape(kernel, cout, k2, k2, s*s*cin), k2
}

// convSlices is convMatmul with every gradient left to autodiff: the patches are Pad
// and Slices (see slicePatches), whose gradients are Slices and Pads, themselves
// differentiable. Not cropPatches' one Gather, though its gradient (one ScatterSum)
// would be cheaper than kh*kw zero-filled Pads: GoMLX v0.28 builds the gradient of that
// ScatterSum with the wrong shape (its window axes dropped), and the second
// differentiation fails.
func convSlices(x, kernel *Node, stride, pad int) *Node {
	dims := x.Shape().Dimensions
	kdims := kernel.Shape().Dimensions
	cout, kh, kw, cin := kdims[0], kdims[1], kdims[2], kdims[3]
	ho := (dims[2]+2*pad-kh)/stride + 1
	wo := (dims[3]+2*pad-kw)/stride + 1
	p := slicePatches(x, kh, kw, ho, wo, stride, pad)
	return DotGeneral(Reshape(kernel, cout, kh*kw*cin), []int{1}, nil, p, []int{0}, nil)
}

// twiceConv builds a stride-1 convolution with a k x k kernel, its gradients, and
// theirs, as ops whose gradients are written out (so that no Gather is differentiated):
//
//	conv(x, kernel):       patches of x (one Gather) times the kernel; gradients
//	                       convTranspose(dy, kernel) for x and kernelGrad(x, dy) for the kernel
//	convTranspose(dy, K):  conv of dy with the flipped kernel; its gradients follow from
//	                       conv's (flipKernel is an involution)
//	kernelGrad(x, dy):     dy times the patches of x; gradients convTranspose(dy, ·) for x
//	                       and conv(x, ·) for dy
//
// Each op takes its inputs' gradients with the outputGradient pattern. GoMLX calls a
// custom gradient again in every reverse pass that reaches it, so differentiating a
// gradient again (a Hessian-vector product) goes through these ops once more, each pass
// capturing its own output gradient first. The custom gradients are built from the
// ops' original inputs, not from the identities that carry them, so that their own
// gradients reach those inputs' true ones. Written as convSlices' Pad and k*k Slices,
// whose gradients are k*k zero-filled Pads of the input's size (twice over in a second
// derivative), LeNet's Hessian-vector product of 250 images took 2.5x as long on one
// core of the Go backend (1.5 s), and 4x on two.
//
// The ops gather the patches of the same few tensors (a layer's input and its output's
// gradient) again and again: patches keeps each once, with its gradient stopped, and
// each op reaches its inputs' custom gradients through a zero-valued link instead (see
// plusZeroOf).
type twiceConv struct {
	k       int
	patches map[patchKey]*Node
}

// patchKey names the patches of x zero-padded by pad.
type patchKey struct {
	x   *Node
	pad int
}

// patchesOf returns the patches of x [C, N, H, W] zero-padded by pad, [k*k*C, N, Ho, Wo],
// with their gradient stopped: one Gather for each x and pad.
func (c *twiceConv) patchesOf(x *Node, pad int) *Node {
	key := patchKey{x, pad}
	p, ok := c.patches[key]
	if !ok {
		p = StopGradient(cropPatches(x, c.k, c.k, pad))
		c.patches[key] = p
	}
	return p
}

// conv is the convolution of x [Cin, N, H, W] with kernel [Cout, k, k, Cin], zero
// padding pad < k: [Cout, N, Ho, Wo].
func (c *twiceConv) conv(x, kernel *Node, pad int) *Node {
	upstream := &outputGradient{op: "convolution"}
	kernelIn := kernel
	xLink := IdentityWithCustomGradient(x, func(_, _ *Node) *Node {
		return c.convTranspose(upstream.get(), kernelIn, pad)
	})
	kernel = IdentityWithCustomGradient(kernelIn, func(_, _ *Node) *Node {
		return c.kernelGrad(x, upstream.get(), pad)
	})
	k2 := Reshape(plusZeroOf(kernel, xLink), kernel.Shape().Dim(0), -1)
	return upstream.capture(DotGeneral(k2, []int{1}, nil, c.patchesOf(x, pad), []int{0}, nil))
}

// convTranspose is the gradient of conv(x, kernel, pad) with respect to x, given the
// gradient dy [Cout, N, Ho, Wo] of its output: [Cin, N, H, W].
func (c *twiceConv) convTranspose(dy, kernel *Node, pad int) *Node {
	return c.conv(dy, flipKernel(kernel), c.k-1-pad)
}

// kernelGrad is the gradient of conv(x, kernel, pad) with respect to the kernel, given
// the gradient dy [Cout, N, Ho, Wo] of its output: dy times the patches of x,
// contracting N, Ho and Wo (the layout the Go backend's matmul takes as it is),
// [Cout, k, k, Cin].
func (c *twiceConv) kernelGrad(x, dy *Node, pad int) *Node {
	upstream := &outputGradient{op: "convolution kernel gradient"}
	dyIn := dy
	xLink := IdentityWithCustomGradient(x, func(_, _ *Node) *Node {
		return c.convTranspose(dyIn, upstream.get(), pad)
	})
	dy = IdentityWithCustomGradient(dyIn, func(_, _ *Node) *Node {
		return c.conv(x, upstream.get(), pad)
	})
	g := DotGeneral(dy, []int{1, 2, 3}, nil, c.patchesOf(x, pad), []int{1, 2, 3}, nil)
	g = Reshape(g, dy.Shape().Dim(0), c.k, c.k, x.Shape().Dim(0))
	return upstream.capture(plusZeroOf(g, xLink))
}

// plusZeroOf is y plus zero times one element of link: y's value, with a path from y
// back to link, through which reverse autodiff reaches link's custom gradient. The path
// cannot go through link's patches, which other ops share with their gradient stopped
// (differentiating them would differentiate their Gather). twiceConv applies it to
// kernel-sized tensors, where the add costs little.
func plusZeroOf(y, link *Node) *Node {
	first := Slice(link, AxisElem(0), AxisElem(0), AxisElem(0), AxisElem(0))
	return Add(y, MulScalar(Reshape(first), 0))
}

// flipKernel turns a kernel [Cout, kh, kw, Cin] into the kernel [Cin, kh, kw, Cout] of
// its transposed convolution: rotated by 180 degrees, its channel axes swapped.
func flipKernel(kernel *Node) *Node {
	return TransposeAllAxes(Reverse(kernel, 1, 2), 3, 1, 2, 0)
}

// cropPatches returns the kh*kw windows of a stride-1 convolution of x [Cin, N, H, W]
// zero-padded by pad, concatenated into [kh*kw*Cin, N, Ho, Wo] (row (i*kw + j)*Cin + c),
// with Pad and one gatherWindows. It is never differentiated: Gather's gradient is a
// Scatter, and Pad's a Slice.
func cropPatches(x *Node, kh, kw, pad int) *Node {
	if pad > 0 {
		x = padHW(x, pad)
	}
	dims := x.Shape().Dimensions
	cin, n, hp, wp := dims[0], dims[1], dims[2], dims[3]
	ho, wo := hp-kh+1, wp-kw+1
	starts := make([][3]int, 0, kh*kw)
	for i := range kh {
		for j := range kw {
			starts = append(starts, [3]int{0, i, j})
		}
	}
	windows := gatherWindows(Reshape(x, cin*n, hp, wp), starts, cin*n, ho, wo)
	return Reshape(windows, kh*kw*cin, n, ho, wo)
}

// padHW zero-pads axes 2 and 3 (H, W) of x [C, N, H, W] by pad on both sides.
func padHW(x *Node, pad int) *Node {
	p := PadAxis{Start: pad, End: pad}
	return Pad(x, ScalarZero(x.Graph(), x.DType()), PadAxis{}, PadAxis{}, p, p)
}

// slicePatches is cropPatches for any stride, with Pad and Slice (both differentiable):
// [kh*kw*Cin, N, Ho, Wo].
func slicePatches(x *Node, kh, kw, ho, wo, stride, pad int) *Node {
	if pad > 0 {
		x = padHW(x, pad)
	}
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
	if len(patches) == 1 {
		return patches[0]
	}
	return Concatenate(patches, 0)
}

// convInputGrad is the gradient of convMatmul with respect to its input [Cin, N, h, w],
// given the gradient dy [Cout, N, Ho, Wo] of its output. For a stride-1 convolution
// with a square kernel it is a convolution of dy (see below). Otherwise it is the
// patches' gradient kernelᵀ·dy as one matmul whose layout needs no transpose of large
// tensors, then "col2im": each patch row is dilated by the stride, padded, and its
// kh*kw shifted windows summed (gatherWindows, then one sum). It is only ever
// evaluated, never differentiated.
func convInputGrad(dy, kernel *Node, h, w, stride, pad int) *Node {
	kdims := kernel.Shape().Dimensions
	cout, kh, kw, cin := kdims[0], kdims[1], kdims[2], kdims[3]
	if stride == 1 && kh == kw {
		// The gradient of a stride-1 convolution is the convolution of dy, padded by
		// k-1-pad, with the kernel flipped and its channel axes swapped: the same
		// gathered windows and one matmul as the forward pass, over dy's Cout channels
		// instead of kh*kw*Cin padded patch rows.
		flipped := Reshape(flipKernel(kernel), cin, kh*kw*cout)
		p := cropPatches(dy, kh, kw, kh-1-pad) // [kh*kw*Cout, N, h, w]
		return DotGeneral(flipped, []int{1}, nil, p, []int{0}, nil)
	}
	ddims := dy.Shape().Dimensions
	n, ho, wo := ddims[1], ddims[2], ddims[3]
	kt := Transpose(Reshape(kernel, cout, kh*kw*cin), 0, 1) // small: [kh*kw*Cin, Cout]
	dp := DotGeneral(kt, []int{1}, nil, dy, []int{0}, nil)  // [kh*kw*Cin, N, Ho, Wo]
	// Input row r receives patch row t (at dilated position t*stride) through tap
	// i = r + pad - t*stride. With the dilated rows shifted right by kh-1-pad, tap i
	// reads rows [kh-1-i, kh-1-i+h).
	padAxis := func(k, size, outSize int) PadAxis {
		lo := k - 1 - pad
		hi := size + pad - (outSize-1)*stride - 1
		return PadAxis{Start: lo, End: hi, Interior: stride - 1}
	}
	zero := ScalarZero(dp.Graph(), dp.DType())
	e := Pad(dp, zero, PadAxis{}, PadAxis{}, padAxis(kh, h, ho), padAxis(kw, w, wo))
	edims := e.Shape().Dimensions
	e = Reshape(e, kh*kw*cin*n, edims[2], edims[3])
	starts := make([][3]int, 0, kh*kw)
	for i := range kh {
		for j := range kw {
			starts = append(starts, [3]int{(i*kw + j) * cin * n, kh - 1 - i, kw - 1 - j})
		}
	}
	windows := gatherWindows(e, starts, cin*n, h, w) // [kh*kw, Cin*N, h, w]
	return Reshape(ReduceSum(windows, 0), cin, n, h, w)
}

// gatherWindows returns the blocks x[a:a+rows, r:r+h, c:c+w] of x [A, H, W] for each
// start (a, r, c), stacked: [len(starts), rows, h, w]. It is one Gather, which the Go
// backend copies row by row, where Slice copies element by element and a Pad that
// crops also fills its whole output first. Gather's gradient is a Scatter: callers use
// it where no gradient is taken.
func gatherWindows(x *Node, starts [][3]int, rows, h, w int) *Node {
	idx := make([][]int32, len(starts))
	for k, st := range starts {
		idx[k] = []int32{int32(st[0]), int32(st[1]), int32(st[2])}
	}
	return GatherSlices(x, []int{0, 1, 2}, Const(x.Graph(), idx), []int{rows, h, w}, true)
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
// [C, N, H/2, 2, W/2, 2] and a transpose that puts each window's 4 values last, in
// row-major order. The gradient goes to the window's first largest value, as PyTorch's
// and XLA's max-pooling give it: ReduceMax's gradient would give the whole of it to
// every value equal to the largest, and after the first convolution a blank background
// makes whole windows equal (the biases' gradients came out up to 4x PyTorch's). So the
// pooling is the sum of the window times a constant one-hot mask of its first argmax.
func maxPoolReshape(x *Node) *Node {
	dims := x.Shape().Dimensions
	c, n, h, w := dims[0], dims[1], dims[2], dims[3]
	if h%2 != 0 || w%2 != 0 {
		x = Slice(x, AxisRange(), AxisRange(), AxisRange(0, h-h%2), AxisRange(0, w-w%2))
	}
	x = Reshape(x, c, n, h/2, 2, w/2, 2)
	x = Reshape(TransposeAllAxes(x, 0, 1, 2, 4, 3, 5), c, n, h/2, w/2, 4)
	first := StopGradient(OneHot(ArgMax(x, 4), 4, x.DType()))
	return ReduceSum(Mul(x, first), 4)
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
