package models

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/gobackend"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"
)

func testBackend(t testing.TB) compute.Backend {
	t.Helper()
	return gobackend.GetBackend()
}

func randomTensor(rng *rand.Rand, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(rng.NormFloat64())
	}
	return tensors.FromFlatDataAndDimensions(data, dims...)
}

func flat(t *tensors.Tensor) []float32 { return tensors.MustCopyFlatData[float32](t) }

// maxRelDiff returns max |a-b| / max(1, max |a|).
func maxRelDiff(a, b []float32) float64 {
	var diff, scale float64 = 0, 1
	for i := range a {
		diff = math.Max(diff, math.Abs(float64(a[i]-b[i])))
		scale = math.Max(scale, math.Abs(float64(a[i])))
	}
	return diff / scale
}

// TestConvFormulations checks that the matmul convolution (hand-written input gradient)
// and the Autodiff formulation's (twiceConv's written-out gradients, after spaceToDepth
// at a larger stride; slices and autodiff otherwise) give the same outputs and gradients (w.r.t. input and kernel)
// as the backend's native convolution. Tolerance: 1e-4 relative to the largest
// magnitude, float32 sums of up to 5*5*8 = 200 products of N(0,1) values reordered.
func TestConvFormulations(t *testing.T) {
	backend := testBackend(t)
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name                        string
		n, h, w, cin, k, cout, s, p int
	}{
		{"lenet 5x5 pad 2", 2, 8, 8, 1, 5, 3, 1, 2},
		{"lenet 5x5 pad 2 multi-channel", 2, 7, 6, 4, 5, 3, 1, 2},
		{"resnet 3x3 pad 1", 2, 6, 6, 3, 3, 4, 1, 1},
		{"resnet 3x3 stride 2", 2, 8, 8, 3, 3, 4, 2, 1},
		{"resnet 1x1 stride 2", 2, 8, 8, 3, 1, 5, 2, 0},
		{"odd size stride 2", 1, 7, 9, 2, 3, 2, 2, 1},
		{"5x5 stride 3 pad 2", 1, 11, 10, 2, 5, 3, 3, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := randomTensor(rng, tc.cin, tc.n, tc.h, tc.w) // CNHW
			kernel := randomTensor(rng, tc.cout, tc.k, tc.k, tc.cin)
			results := map[Formulation][]*tensors.Tensor{}
			for _, f := range []Formulation{Matmul, Autodiff, Native} {
				exec := MustNewExec(backend, func(x, kernel *Node) []*Node {
					var y *Node
					switch f {
					case Matmul:
						y = convMatmul(x, kernel, tc.s, tc.p)
					case Autodiff:
						y = convAutodiff(x, kernel, tc.s, tc.p)
					default:
						y = convNative(x, kernel, tc.s, tc.p)
					}
					// A weighted sum makes the gradient depend on every output position.
					weights := Iota(x.Graph(), y.Shape(), 1)
					weights = Add(Sin(weights), Cos(Iota(x.Graph(), y.Shape(), 0)))
					loss := ReduceAllSum(Mul(y, weights))
					grads := Gradient(loss, x, kernel)
					return []*Node{y, grads[0], grads[1]}
				})
				out, err := exec.Call(x, kernel)
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				results[f] = out
			}
			for _, f := range []Formulation{Matmul, Autodiff} {
				for i, what := range []string{"output", "grad wrt input", "grad wrt kernel"} {
					a, b := results[f][i], results[Native][i]
					if !a.Shape().Equal(b.Shape()) {
						t.Fatalf("%s %s: shapes differ: %s, native %s", f, what, a.Shape(), b.Shape())
					}
					if d := maxRelDiff(flat(b), flat(a)); d > 1e-4 {
						t.Errorf("%s %s: max relative difference from native %g > 1e-4", f, what, d)
					}
				}
			}
		})
	}
}

// TestConvSecondDerivatives checks that the Autodiff formulation's convolution, whose
// gradients are written out (twiceConv; spaceToDepth first where strided), differentiates
// twice as
// convSlices, whose gradients are all autodiff's, does: the gradient of ⟨∇L, (u, U)⟩
// with respect to the input and the kernel, for L = Σ weights·y²/2 (so that the Hessian
// has terms through y², besides the cross terms between input and kernel). GoMLX's
// native convolution has no second derivative (its gradient's gradient fails to build).
// Same tolerance as TestConvFormulations.
func TestConvSecondDerivatives(t *testing.T) {
	backend := testBackend(t)
	rng := rand.New(rand.NewPCG(5, 6))
	tests := []struct {
		name                        string
		n, h, w, cin, k, cout, s, p int
	}{
		{"lenet 5x5 pad 2", 2, 8, 7, 2, 5, 3, 1, 2},
		{"resnet 3x3 pad 1", 2, 6, 5, 3, 3, 4, 1, 1},
		{"3x3 pad 0", 2, 6, 6, 2, 3, 3, 1, 0}, // its transposed convolution pads by 2
		{"1x1", 2, 4, 3, 3, 1, 2, 1, 0},
		{"resnet 3x3 stride 2 pad 1", 2, 8, 7, 3, 3, 4, 2, 1},
		{"5x5 stride 3 pad 2", 1, 11, 10, 2, 5, 3, 3, 2},
		{"resnet 1x1 stride 2", 2, 8, 8, 3, 1, 5, 2, 0},
		// Windows that leave the last row and column unread: spaceToDepth crops. Not in
		// TestConvFormulations: GoMLX's native convolution gets this input gradient wrong.
		{"2x2 stride 2 pad 0, odd size", 1, 5, 7, 2, 2, 3, 2, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := randomTensor(rng, tc.cin, tc.n, tc.h, tc.w)
			kernel := randomTensor(rng, tc.cout, tc.k, tc.k, tc.cin)
			u := randomTensor(rng, tc.cin, tc.n, tc.h, tc.w)
			uKernel := randomTensor(rng, tc.cout, tc.k, tc.k, tc.cin)
			var results [2][]*tensors.Tensor
			for i, conv := range []func(x, kernel *Node, stride, pad int) *Node{convAutodiff, convSlices} {
				exec := MustNewExec(backend, func(x, kernel, u, uKernel *Node) []*Node {
					y := conv(x, kernel, tc.s, tc.p)
					weights := Add(Sin(Iota(x.Graph(), y.Shape(), 1)), Cos(Iota(x.Graph(), y.Shape(), 3)))
					loss := MulScalar(ReduceAllSum(Mul(Square(y), weights)), 0.5)
					grads := Gradient(loss, x, kernel)
					gu := Add(ReduceAllSum(Mul(grads[0], u)), ReduceAllSum(Mul(grads[1], uKernel)))
					return Gradient(gu, x, kernel)
				})
				out, err := exec.Call(x, kernel, u, uKernel)
				if err != nil {
					t.Fatal(err)
				}
				results[i] = out
			}
			for i, what := range []string{"input", "kernel"} {
				a, b := results[0][i], results[1][i]
				if !a.Shape().Equal(b.Shape()) {
					t.Fatalf("%s: shapes differ: %s, convSlices' %s", what, a.Shape(), b.Shape())
				}
				if d := maxRelDiff(flat(b), flat(a)); d > 1e-4 {
					t.Errorf("Hessian-vector product for the %s: max relative difference from convSlices' %g > 1e-4", what, d)
				}
			}
		})
	}
}

// TestMaxPoolReshape checks the reshape+ReduceMax pooling against the native MaxPool
// (forward) and its gradient against the hand-computed one: the upstream gradient
// routed to the position of each window's maximum (inputs are continuous random
// values, so there are no ties). Exact equality is expected.
func TestMaxPoolReshape(t *testing.T) {
	backend := testBackend(t)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		dims [4]int
		ties bool // values 0 or 1: windows with several largest values, as a blank background gives
	}{{[4]int{2, 4, 4, 3}, false}, {[4]int{1, 6, 8, 2}, false}, {[4]int{2, 7, 5, 1}, false}, {[4]int{2, 6, 6, 2}, true}} {
		dims := tc.dims
		n, h, w, c := dims[0], dims[1], dims[2], dims[3]
		x := randomTensor(rng, c, n, h, w) // CNHW
		if tc.ties {
			tensors.MustMutableFlatData(x, func(flat []float32) {
				for i, v := range flat {
					flat[i] = float32(max(0, math.Round(float64(v))))
				}
			})
		}
		ho, wo := h/2, w/2
		upstream := randomTensor(rng, c, n, ho, wo)
		out, err := MustNewExec(backend, func(x, up *Node) []*Node {
			y := maxPoolReshape(x)
			native := maxPool2x2(x, Native)
			grad := Gradient(ReduceAllSum(Mul(y, up)), x)[0]
			return []*Node{y, native, grad}
		}).Call(x, upstream)
		if err != nil {
			t.Fatal(err)
		}
		if d := maxRelDiff(flat(out[1]), flat(out[0])); d != 0 {
			t.Errorf("%v: forward differs from native MaxPool by %g", dims, d)
		}
		xs, ups := flat(x), flat(upstream)
		want := make([]float32, len(xs))
		at := func(b, i, j, k int) int { return ((k*n+b)*h+i)*w + j }
		for b := range n {
			for i := range ho {
				for j := range wo {
					for k := range c {
						best := at(b, 2*i, 2*j, k) // the first largest, in row-major order (PyTorch's)
						for _, d := range [][2]int{{0, 1}, {1, 0}, {1, 1}} {
							if p := at(b, 2*i+d[0], 2*j+d[1], k); xs[p] > xs[best] {
								best = p
							}
						}
						want[best] = ups[((k*n+b)*ho+i)*wo+j]
					}
				}
			}
		}
		if d := maxRelDiff(want, flat(out[2])); d != 0 {
			t.Errorf("%v: gradient differs from hand-computed by %g", dims, d)
		}
	}
}

// TestDenseFormulations checks that the feature-major product W·xᵀ with its written-out
// gradients (the Matmul formulation's dense layers) gives the same output and gradients
// with respect to x and W as GoMLX's own DotGeneral and autodiff, for x batch-major
// [batch, in] and feature-major [in, batch].
func TestDenseFormulations(t *testing.T) {
	backend := testBackend(t)
	rng := rand.New(rand.NewPCG(7, 8))
	tests := []struct {
		name         string
		featureMajor bool
		xDims        []int
	}{
		{"x batch-major", false, []int{6, 5}},
		{"x feature-major", true, []int{5, 6}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := randomTensor(rng, tc.xDims...)
			w := randomTensor(rng, 4, 5)
			upstream := randomTensor(rng, 4, 6) // [out, batch]
			inAxis := 1
			if tc.featureMajor {
				inAxis = 0
			}
			out, err := MustNewExec(backend, func(x, w, up *Node) []*Node {
				loss := func(y *Node) *Node { return ReduceAllSum(Mul(Tanh(y), up)) } // Tanh: the upstream gradient depends on y
				y := matmulFeatureMajor(w, x, tc.featureMajor)
				want := DotGeneral(w, []int{1}, nil, x, []int{inAxis}, nil)
				got, wantGrads := Gradient(loss(y), x, w), Gradient(loss(want), x, w)
				return []*Node{y, got[0], got[1], want, wantGrads[0], wantGrads[1]}
			}).Call(x, w, upstream)
			if err != nil {
				t.Fatal(err)
			}
			for i, what := range []string{"output", "gradient of x", "gradient of W"} {
				if !slices.Equal(out[i].Shape().Dimensions, out[3+i].Shape().Dimensions) {
					t.Fatalf("%s: shape %v, want %v", what, out[i].Shape(), out[3+i].Shape())
				}
				if d := maxRelDiff(flat(out[i]), flat(out[3+i])); d > 1e-5 {
					t.Errorf("%s: differs from GoMLX's by %g", what, d)
				}
			}
		})
	}
}

// TestRelu checks ReLU's values and gradient against max(x, 0) with PyTorch's gradient:
// 1 where x > 0, else 0, at exactly 0 too (half the inputs here are 0).
func TestRelu(t *testing.T) {
	backend := testBackend(t)
	rng := rand.New(rand.NewPCG(5, 6))
	x := randomTensor(rng, 3, 4, 6)
	tensors.MustMutableFlatData(x, func(flat []float32) {
		for i := 0; i < len(flat); i += 2 {
			flat[i] = 0
		}
	})
	upstream := randomTensor(rng, 3, 4, 6)
	out, err := MustNewExec(backend, func(x, up *Node) []*Node {
		y := relu(x)
		return []*Node{y, Gradient(ReduceAllSum(Mul(y, up)), x)[0]}
	}).Call(x, upstream)
	if err != nil {
		t.Fatal(err)
	}
	xs, ups, ys, grads := flat(x), flat(upstream), flat(out[0]), flat(out[1])
	for i, v := range xs {
		wantY, wantGrad := float32(0), float32(0)
		if v > 0 {
			wantY, wantGrad = v, ups[i]
		}
		if ys[i] != wantY || grads[i] != wantGrad {
			t.Errorf("x = %g: relu %g, gradient %g; want %g, %g", v, ys[i], grads[i], wantY, wantGrad)
		}
	}
}

// TestModelFormulations builds each model three times over the same variables, with the
// Matmul, Autodiff and Native formulations, and checks that logits and the gradient of every
// trainable variable agree: the per-layer tests above cover the pieces, this covers
// their wiring (layouts, flattening, the feature-major dense layers). The images' last
// quarter of rows is blank, as MNIST's borders are, so that max-pooling windows hold
// equal values and activations are exactly 0.
func TestModelFormulations(t *testing.T) {
	backend := testBackend(t)
	rng := rand.New(rand.NewPCG(9, 10))
	tests := []struct {
		model          string
		h, w, c, batch int
		config         Config
		gradientsOf    string  // prefix of the scopes whose variables' gradients are compared
		tolerance      float64 // of the largest relative difference; 0: 1e-4
	}{
		{"mlp", 28, 28, 1, 3, Config{Hidden: 16}, "/model", 0},
		{"lenet", 28, 28, 1, 2, Config{}, "/model", 0},
		{"lenet", 32, 32, 3, 2, Config{FCReLU: true}, "/model", 0},
		{"lenet", 28, 28, 1, 2, Config{Convs: 2}, "/model", 0},
		{"resnet", 8, 8, 3, 2, Config{Blocks: 1}, "/model", 0},
		{"resnet", 7, 7, 1, 2, Config{Blocks: 1, Shortcut3x3: true}, "/model", 0},
		// The smallest images each model takes (CheckInput): their wiring. The ResNet's with
		// a batch of 4, and a looser tolerance: batch norm in training mode over a channel's
		// 4 (or 8) values divides by their spread, which amplifies the formulations' float32
		// rounding (2 values gave 1e-3 apart; 4 gave 1e-5 on this machine's matmul kernels and
		// 7.8e-4 on CI's). A wiring error is off by far more.
		{"mlp", 1, 1, 1, 2, Config{Hidden: 4}, "/model", 0},
		{"lenet", 4, 4, 1, 2, Config{FCHidden: 8}, "/model", 0},
		{"lenet", 2, 2, 3, 2, Config{Convs: 1, FCHidden: 8}, "/model", 0},
		{"resnet", 1, 1, 1, 4, Config{Blocks: 1}, "/model", 1e-2},
		{"resnet", 1, 2, 3, 4, Config{Blocks: 1, Shortcut3x3: true}, "/model", 1e-2},
	}
	formulations := []Formulation{Native, Matmul, Autodiff} // the first is the reference
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s %dx%dx%d", tc.model, tc.h, tc.w, tc.c), func(t *testing.T) {
			images := randomTensor(rng, tc.batch, tc.h, tc.w, tc.c)
			tensors.MustMutableFlatData(images, func(flat []float32) {
				for i := range flat {
					if row := i / (tc.w * tc.c) % tc.h; row >= tc.h-tc.h/4 {
						flat[i] = 0
					}
				}
			})
			upstream := randomTensor(rng, tc.batch, 10)
			store := gmodel.NewStore()
			var names []string
			exec, err := gmodel.NewExec(backend, store, func(scope *gmodel.Scope, images, up *Node) []*Node {
				var outs []*Node
				for _, f := range formulations {
					config := tc.config
					config.Formulation = f
					m, err := New(tc.model, config)
					if err != nil {
						t.Fatal(err)
					}
					logits := m.Logits(scope.At("model"), images, true)
					loss := ReduceAllSum(Mul(Tanh(logits), up))
					var vars []*Node
					names = names[:0]
					for v := range scope.IterVariables() {
						if v.Trainable && strings.HasPrefix(v.Scope(), tc.gradientsOf) {
							vars = append(vars, v.NodeValue(images.Graph()))
							names = append(names, v.Scope()+"/"+v.Name())
						}
					}
					outs = append(outs, logits)
					outs = append(outs, Gradient(loss, vars...)...)
				}
				return outs
			})
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Exec(images, upstream)
			if err != nil {
				t.Fatal(err)
			}
			each := len(out) / len(formulations)
			if each != len(names)+1 {
				t.Fatalf("%d outputs for %d variables", len(out), len(names))
			}
			for k, f := range formulations[1:] {
				for i := range each {
					what := "logits"
					if i > 0 {
						what = "gradient of " + names[i-1]
					}
					if d := maxRelDiff(flat(out[i]), flat(out[(k+1)*each+i])); d > cmp.Or(tc.tolerance, 1e-4) {
						t.Errorf("%s: %s and native formulations differ by %g", what, f, d)
					}
				}
			}
		})
	}
}
