package models

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/gobackend"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
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

// maxAbsDiff returns max |a-b| / max(1, max |a|).
func maxRelDiff(a, b []float32) float64 {
	var diff, scale float64 = 0, 1
	for i := range a {
		diff = math.Max(diff, math.Abs(float64(a[i]-b[i])))
		scale = math.Max(scale, math.Abs(float64(a[i])))
	}
	return diff / scale
}

// TestConvFormulations checks that the matmul (shifted slices) convolution gives the
// same outputs and gradients (w.r.t. input and kernel) as the backend's native
// convolution. Tolerance: 1e-4 relative to the largest magnitude, float32 sums of
// up to 5*5*8 = 200 products of N(0,1) values reordered.
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
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := randomTensor(rng, tc.cin, tc.n, tc.h, tc.w) // CNHW
			kernel := randomTensor(rng, tc.cout, tc.k, tc.k, tc.cin)
			results := map[Formulation][]*tensors.Tensor{}
			for _, f := range []Formulation{Matmul, Native} {
				exec := MustNewExec(backend, func(x, kernel *Node) []*Node {
					var y *Node
					if f == Matmul {
						y = convMatmul(x, kernel, tc.s, tc.p)
					} else {
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
			for i, what := range []string{"output", "grad wrt input", "grad wrt kernel"} {
				a, b := results[Matmul][i], results[Native][i]
				if !a.Shape().Equal(b.Shape()) {
					t.Fatalf("%s: shapes differ: matmul %s, native %s", what, a.Shape(), b.Shape())
				}
				if d := maxRelDiff(flat(b), flat(a)); d > 1e-4 {
					t.Errorf("%s: max relative difference %g > 1e-4", what, d)
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
	for _, dims := range [][4]int{{2, 4, 4, 3}, {1, 6, 8, 2}, {2, 7, 5, 1}} {
		n, h, w, c := dims[0], dims[1], dims[2], dims[3]
		x := randomTensor(rng, c, n, h, w) // CNHW
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
						best := at(b, 2*i, 2*j, k)
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

// TestReluFormulations checks that the masked ReLU of the Matmul formulation has the
// same values and gradient as GoMLX's Max-based one. Exact equality is expected (inputs
// are continuous random values, so none is exactly 0).
// TestDenseFormulations checks that x·Wᵀ with the custom weight gradient (Matmul) gives
// the same output and gradients with respect to x and W as GoMLX's own (Native).
func TestDenseFormulations(t *testing.T) {
	backend := testBackend(t)
	rng := rand.New(rand.NewPCG(7, 8))
	x := randomTensor(rng, 6, 5)
	w := randomTensor(rng, 4, 5)
	upstream := randomTensor(rng, 6, 4)
	out, err := MustNewExec(backend, func(x, w, up *Node) []*Node {
		var res []*Node
		for _, f := range []Formulation{Matmul, Native} {
			y := matmulTransposed(x, w, f)
			// Tanh after the product so that the upstream gradient depends on y.
			grads := Gradient(ReduceAllSum(Mul(Tanh(y), up)), x, w)
			res = append(res, y, grads[0], grads[1])
		}
		return res
	}).Call(x, w, upstream)
	if err != nil {
		t.Fatal(err)
	}
	for i, what := range []string{"output", "gradient of x", "gradient of W"} {
		if d := maxRelDiff(flat(out[3+i]), flat(out[i])); d > 1e-5 {
			t.Errorf("%s: matmul and native formulations differ by %g", what, d)
		}
	}
}

func TestReluFormulations(t *testing.T) {
	backend := testBackend(t)
	rng := rand.New(rand.NewPCG(5, 6))
	x := randomTensor(rng, 3, 4, 5)
	upstream := randomTensor(rng, 3, 4, 5)
	out, err := MustNewExec(backend, func(x, up *Node) []*Node {
		var res []*Node
		for _, f := range []Formulation{Matmul, Native} {
			y := relu(x, f)
			res = append(res, y, Gradient(ReduceAllSum(Mul(y, up)), x)[0])
		}
		return res
	}).Call(x, upstream)
	if err != nil {
		t.Fatal(err)
	}
	for i, what := range []string{"output", "gradient"} {
		if d := maxRelDiff(flat(out[2+i]), flat(out[i])); d != 0 {
			t.Errorf("%s: matmul and native formulations differ by %g", what, d)
		}
	}
}
