package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/experiment"
	"github.com/extremepoints/esp/models"
)

// hostMLP is the toolkit's MLP (flatten, dense [hidden, in] + bias, ReLU, dense
// [classes, hidden] + bias, mean cross-entropy) written out in float64 on the host,
// with its analytic gradient: the reference the finite-difference Hessian is checked
// against. Parameters are laid out in the order of the net's weights.
type hostMLP struct {
	in, hidden, classes int
	x                   [][]float64
	y                   []int
}

func (m *hostMLP) size() int {
	return m.hidden*m.in + m.hidden + m.classes*m.hidden + m.classes
}

// lossGrad returns the mean cross-entropy and its gradient at p, and the smallest
// |pre-activation| of the hidden units (the distance to a ReLU kink).
func (m *hostMLP) lossGrad(p []float64) (float64, []float64, float64) {
	w0 := p[:m.hidden*m.in]
	b0 := p[m.hidden*m.in : m.hidden*m.in+m.hidden]
	w1 := p[m.hidden*m.in+m.hidden : m.hidden*m.in+m.hidden+m.classes*m.hidden]
	b1 := p[m.hidden*m.in+m.hidden+m.classes*m.hidden:]
	grad := make([]float64, len(p))
	gw0, gb0 := grad[:len(w0)], grad[len(w0):len(w0)+len(b0)]
	gw1, gb1 := grad[len(w0)+len(b0):len(w0)+len(b0)+len(w1)], grad[len(w0)+len(b0)+len(w1):]
	var loss float64
	kink := math.Inf(1)
	n := float64(len(m.x))
	for e, x := range m.x {
		pre := make([]float64, m.hidden)
		h := make([]float64, m.hidden)
		for o := range m.hidden {
			pre[o] = b0[o]
			for i := range m.in {
				pre[o] += w0[o*m.in+i] * x[i]
			}
			h[o] = math.Max(pre[o], 0)
			kink = math.Min(kink, math.Abs(pre[o]))
		}
		z := make([]float64, m.classes)
		zmax := math.Inf(-1)
		for c := range m.classes {
			z[c] = b1[c]
			for o := range m.hidden {
				z[c] += w1[c*m.hidden+o] * h[o]
			}
			zmax = math.Max(zmax, z[c])
		}
		var sum float64
		for c := range z {
			sum += math.Exp(z[c] - zmax)
		}
		loss += -(z[m.y[e]] - zmax - math.Log(sum)) / n
		dh := make([]float64, m.hidden)
		for c := range m.classes {
			dz := math.Exp(z[c]-zmax) / sum
			if c == m.y[e] {
				dz--
			}
			dz /= n
			gb1[c] += dz
			for o := range m.hidden {
				gw1[c*m.hidden+o] += dz * h[o]
				dh[o] += dz * w1[c*m.hidden+o]
			}
		}
		for o := range m.hidden {
			if pre[o] <= 0 {
				continue
			}
			gb0[o] += dh[o]
			for i := range m.in {
				gw0[o*m.in+i] += dh[o] * x[i]
			}
		}
	}
	return loss, grad, kink
}

func flattenWeights(w *experiment.Weights) []float64 {
	var out []float64
	for _, t := range w.Tensors {
		for _, v := range t.Data {
			out = append(out, float64(v))
		}
	}
	return out
}

// TestSharpnessExactHessian validates the finite-difference Hessian-vector products,
// both top-eigenvalue solvers and Hutchinson's trace against a reference Hessian of a tiny MLP
// (2x2x1 inputs, 3 hidden units, 2 classes: 23 parameters) on 16 examples.
//
// Reference: the dense Hessian built column by column from central differences
// (step 1e-6) of the analytic float64 gradient of hostMLP. Where no ReLU kink lies
// within the step (checked: every pre-activation is > 0.05 away from 0, and the
// probe's step moves one by at most ε·|(x, 1)| ≤ 2.3e-3) the loss is smooth and that
// difference is exact to O(1e-12); gonum's EigenSym gives its eigenvalues. First the
// host gradient is checked against Net.Gradient (1e-5 absolute, float32), which
// proves the two compute the same function.
//
// Tolerances: H·v of the probe (float32 gradients, ε = 1e-3) within 1e-3 relative of
// H·v (float32 rounding / ε ~ 1e-4); the top eigenvalue, by either solver, within 0.1% relative; the
// trace estimate (1000 Rademacher samples) within 4 of its standard errors of the
// exact trace.
func TestSharpnessExactHessian(t *testing.T) {
	const h, w, classes, hidden, n = 2, 2, 2, 3, 16
	backend, err := experiment.NewBackend("go")
	if err != nil {
		t.Fatal(err)
	}
	net, err := experiment.NewNet(backend, "mlp", models.Config{Classes: classes, Hidden: hidden}, h, w, 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	// The first data seed whose examples keep every pre-activation 0.05 from a kink.
	var (
		rng      *rand.Rand
		split    *datasets.Split
		model    *hostMLP
		weights  *experiment.Weights
		p        []float64
		loss     float64
		hostGrad []float64
	)
	for seed := uint64(0); ; seed++ {
		if seed == 100 {
			t.Fatal("no data seed keeps the pre-activations away from the ReLU kinks")
		}
		rng = rand.New(rand.NewPCG(seed, 8))
		split = &datasets.Split{Height: h, Width: w, Channels: 1, Images: make([]uint8, n*h*w), Labels: make([]uint8, n)}
		model = &hostMLP{in: h * w, hidden: hidden, classes: classes}
		for e := range n {
			split.Labels[e] = uint8(rng.IntN(classes))
			x := make([]float64, h*w)
			for i := range x {
				split.Images[e*h*w+i] = uint8(rng.IntN(256))
				x[i] = float64(split.Images[e*h*w+i]) / 255
			}
			model.x = append(model.x, x)
			model.y = append(model.y, int(split.Labels[e]))
		}
		if weights, err = net.Weights(); err != nil {
			t.Fatal(err)
		}
		// Biases away from zero make the Hessian's bias blocks non-trivial.
		for i := range weights.Tensors {
			if len(weights.Tensors[i].Shape) == 1 {
				for j := range weights.Tensors[i].Data {
					weights.Tensors[i].Data[j] = float32(0.3 * rng.NormFloat64())
				}
			}
		}
		p = flattenWeights(weights)
		if len(p) != model.size() {
			t.Fatalf("the net has %d parameters, the host model %d: %v", len(p), model.size(), weights.Tensors)
		}
		var kink float64
		if loss, hostGrad, kink = model.lossGrad(p); kink >= 0.05 {
			t.Logf("data seed %d: nearest kink %.3f", seed, kink)
			break
		}
	}
	if err := net.SetWeights(weights); err != nil {
		t.Fatal(err)
	}
	grad, netLoss, err := net.Gradient(split, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(netLoss-loss) > 1e-5 {
		t.Fatalf("loss: net %v, host %v", netLoss, loss)
	}
	for i, g := range flattenWeights(grad) {
		if math.Abs(g-hostGrad[i]) > 1e-5 {
			t.Fatalf("gradient %d: net %v, host %v", i, g, hostGrad[i])
		}
	}

	// The reference Hessian.
	size := len(p)
	const step = 1e-6
	cols := make([][]float64, size)
	for k := range size {
		q := append([]float64(nil), p...)
		q[k] = p[k] + step
		_, gp, _ := model.lossGrad(q)
		q[k] = p[k] - step
		_, gm, _ := model.lossGrad(q)
		cols[k] = make([]float64, size)
		for i := range size {
			cols[k][i] = (gp[i] - gm[i]) / (2 * step)
		}
	}
	hess, values, top, trace := denseHessian(t, cols, 0)
	t.Logf("reference Hessian: eigenvalues %.8g .. %.8g, trace %.8g", values[0], values[len(values)-1], trace)

	// H·v of the probe against the dense product.
	v := randomDirection(weights, rng, false)
	hv, err := HessianVectorProduct(net, split, weights, v, 1e-3, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := mat.NewVecDense(size, nil)
	want.MulVec(hess, mat.NewVecDense(size, flattenWeights(v)))
	diff := mat.NewVecDense(size, flattenWeights(hv))
	diff.SubVec(diff, want)
	if mat.Norm(diff, 2) > 1e-3*mat.Norm(want, 2) {
		t.Errorf("H·v: error %v for |H·v| %v", mat.Norm(diff, 2), mat.Norm(want, 2))
	}
	exact, err := net.HessianVectorProduct(split, 0, nil, v)
	if err != nil {
		t.Fatal(err)
	}
	diff = mat.NewVecDense(size, flattenWeights(exact))
	diff.SubVec(diff, want)
	t.Logf("exact H·v: error %v for |H·v| %v", mat.Norm(diff, 2), mat.Norm(want, 2))
	if mat.Norm(diff, 2) > 1e-4*mat.Norm(want, 2) {
		t.Errorf("exact H·v: error %v for |H·v| %v", mat.Norm(diff, 2), mat.Norm(want, 2))
	}

	s := SharpnessSettings{Iterations: 200, Tolerance: 1e-5, TraceSamples: 1000, Seed: 3, HVP: HVPExact}.WithDefaults()
	res, err := sharpnessAt(context.Background(), net, weights, split, s, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("probe: top eigenvalue %v after %d iterations (converged %v), trace %v ± %v",
		res.TopEigenvalue, res.Iterations, res.Converged, res.Trace, res.TraceStd)
	if got := float64(res.TopEigenvalue); math.Abs(got-top) > 1e-3*math.Abs(top) {
		t.Errorf("top eigenvalue %v, reference %v", got, top)
	}
	if !res.Converged || res.Solver != SolverLanczos {
		t.Errorf("the %s solver did not converge in %d iterations", res.Solver, res.Iterations)
	}
	// The power iteration, asked for, with the same start: the same eigenvalue, later.
	s.Solver = SolverPower
	power, err := sharpnessAt(context.Background(), net, weights, split, s, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("power iteration: top eigenvalue %v after %d iterations (converged %v)", power.TopEigenvalue, power.Iterations, power.Converged)
	if got := float64(power.TopEigenvalue); !power.Converged || power.Solver != SolverPower || math.Abs(got-top) > 1e-3*math.Abs(top) {
		t.Errorf("power iteration: top eigenvalue %v after %d iterations (converged %v), reference %v", got, power.Iterations, power.Converged, top)
	}
	s.Solver = SolverLanczos
	if r := res.TopEigenvalueRange; !(r[0] <= res.TopEigenvalue && res.TopEigenvalue <= r[1]) || r[0] < 0 || float64(r[1]) > top*(1+1e-3) {
		t.Errorf("the last estimates range %v, which should hold the estimate %v and lie below λ_max %v", r, res.TopEigenvalue, top)
	}
	if got := float64(res.Trace); math.Abs(got-trace) > 4*float64(res.TraceStd) {
		t.Errorf("trace %v ± %v, reference %v", got, res.TraceStd, trace)
	}
	if res.Examples != n || res.HVP != HVPExact || res.Epsilon != 0 || math.Abs(float64(res.Loss)-loss) > 1e-5 {
		t.Errorf("result %+v", res)
	}
	// Finite differences, asked for, away from the kinks: the same numbers.
	s.HVP = HVPFiniteDifference
	fd, err := sharpnessAt(context.Background(), net, weights, split, s, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if fd.HVP != HVPFiniteDifference || fd.Epsilon != 1e-3 || math.Abs(float64(fd.TopEigenvalue-res.TopEigenvalue)) > 1e-3*math.Abs(top) ||
		math.Abs(float64(fd.Trace-res.Trace)) > 1e-3*math.Abs(trace) {
		t.Errorf("finite differences: %+v; exact: %+v", fd, res)
	}
}

// TestHVPSettings: exact products by default, for every model; an unknown method refused.
func TestHVPSettings(t *testing.T) {
	if got := (SharpnessSettings{}).WithDefaults().HVP; got != HVPExact {
		t.Errorf("default HVP %q, want %q", got, HVPExact)
	}
	if got := (SharpnessSettings{HVP: HVPFiniteDifference}).WithDefaults().HVP; got != HVPFiniteDifference {
		t.Errorf("asked for %q, got %q", HVPFiniteDifference, got)
	}
	if err := (SharpnessSettings{HVP: "autograd"}).Validate(); err == nil || !strings.Contains(err.Error(), "valid are exact, finite-difference") {
		t.Errorf("an unknown HVP: %v", err)
	}
}

// TestSharpnessConvModel: on LeNet, whose exact products build the convolutions apart
// from training's (models.Autodiff; the products themselves are checked against
// PyTorch's in package torchstate), the probe's top eigenvalue and trace match those of
// the dense Hessian assembled from exact products H·e_i (a 1-convolution LeNet on 4x4
// images: 691 parameters). Finite differences at the same point are logged: the
// max-pooling and ReLU switches within the step put jumps of the gradient into them.
func TestSharpnessConvModel(t *testing.T) {
	backend, err := experiment.NewBackend("go")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Finalize()
	split := probeDataset(24, 1).Train
	net, err := experiment.NewNet(backend, "lenet", models.Config{Convs: 1, FCHidden: 4}, 4, 4, 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	w, err := net.Weights()
	if err != nil {
		t.Fatal(err)
	}
	size := w.NumParameters()
	columns := make([][]float64, size)
	basis := w.Clone()
	basis.Scale(0)
	for k := range size {
		setFlat(basis, k, 1)
		hv, err := net.HessianVectorProduct(split, 0, nil, basis)
		if err != nil {
			t.Fatal(err)
		}
		columns[k] = flattenWeights(hv)
		setFlat(basis, k, 0)
	}
	_, values, top, trace := denseHessian(t, columns, 1e-4)

	results := map[string]*SharpnessResult{}
	for _, method := range []string{HVPExact, HVPFiniteDifference} {
		s := SharpnessSettings{Iterations: 200, Tolerance: 1e-6, TraceSamples: 200, Seed: 2, HVP: method}.WithDefaults()
		if method == HVPExact {
			s.DensityVectors, s.LanczosSteps = 2, 80
		}
		if results[method], err = sharpnessAt(context.Background(), net, w, split, s, io.Discard); err != nil {
			t.Fatalf("%s: %v", method, err)
		}
	}
	exact, fd := results[HVPExact], results[HVPFiniteDifference]
	t.Logf("dense Hessian: eigenvalues %.6g .. %.6g, trace %.6g", values[0], values[len(values)-1], trace)
	t.Logf("exact: λ %v (converged %v), trace %v ± %v", exact.TopEigenvalue, exact.Converged, exact.Trace, exact.TraceStd)
	t.Logf("finite differences: λ %v (converged %v), trace %v ± %v", fd.TopEigenvalue, fd.Converged, fd.Trace, fd.TraceStd)
	if got := float64(exact.TopEigenvalue); !exact.Converged || math.Abs(got-top) > 1e-3*math.Abs(top) {
		t.Errorf("top eigenvalue %v (converged %v), dense Hessian's %v", got, exact.Converged, top)
	}
	if got := float64(exact.Trace); math.Abs(got-trace) > 4*float64(exact.TraceStd) {
		t.Errorf("trace %v ± %v, dense Hessian's %v", got, exact.TraceStd, trace)
	}
	// The density's extreme nodes: the extreme eigenvalues, from inside.
	d := exact.Density
	t.Logf("density: nodes from %v to %v", d.Smallest, d.Largest)
	lo, hi := values[0], values[len(values)-1]
	for _, c := range []struct {
		what      string
		got, want float64
	}{{"smallest", float64(d.Smallest), lo}, {"largest", float64(d.Largest), hi}} {
		if math.Abs(c.got-c.want) > 1e-3*(hi-lo) {
			t.Errorf("density's %s node %v, dense Hessian's eigenvalue %v", c.what, c.got, c.want)
		}
	}
}

// denseHessian symmetrizes the Hessian given by its columns and returns it with its
// eigenvalues (ascending), the one largest in magnitude, and its trace. A positive
// symmetryTol fails the test where H[i,j] and H[j,i] differ by more than
// symmetryTol·(1+|H[i,j]|).
func denseHessian(t *testing.T, columns [][]float64, symmetryTol float64) (hess *mat.SymDense, values []float64, top, trace float64) {
	t.Helper()
	size := len(columns)
	hess = mat.NewSymDense(size, nil)
	for i := range size {
		for j := i; j < size; j++ {
			if d := math.Abs(columns[i][j] - columns[j][i]); symmetryTol > 0 && d > symmetryTol*(1+math.Abs(columns[i][j])) {
				t.Fatalf("H[%d,%d] %v, H[%d,%d] %v: not symmetric", i, j, columns[i][j], j, i, columns[j][i])
			}
			hess.SetSym(i, j, (columns[i][j]+columns[j][i])/2)
		}
		trace += hess.At(i, i)
	}
	var eig mat.EigenSym
	if !eig.Factorize(hess, false) {
		t.Fatal("EigenSym failed")
	}
	values = eig.Values(nil)
	top = values[len(values)-1]
	if math.Abs(values[0]) > math.Abs(top) {
		top = values[0]
	}
	return hess, values, top, trace
}

// setFlat sets the k-th parameter of w, counting through its tensors in order.
func setFlat(w *experiment.Weights, k int, value float32) {
	for i := range w.Tensors {
		if n := len(w.Tensors[i].Data); k >= n {
			k -= n
			continue
		}
		w.Tensors[i].Data[k] = value
		return
	}
}

// TestSharpnessFile runs the probe on a run directory and checks sharpness.json.
func TestSharpnessFile(t *testing.T) {
	ds := probeDataset(40, 20)
	run, _ := trainProbeRun(t, ds, false)
	out := filepath.Join(t.TempDir(), "sharp")
	res, err := Sharpness(context.Background(), nil, Point{Run: run}, ds, SharpnessSettings{Iterations: 5, TraceSamples: 3, DensityVectors: 2, LanczosSteps: 7}, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	readProbeInfo(t, out)
	var m map[string]any
	if err := json.Unmarshal([]byte(mustRead(t, filepath.Join(out, SharpnessFile))), &m); err != nil {
		t.Fatal(err)
	}
	hasFields(t, SharpnessFile, m, "top_eigenvalue", "top_eigenvalue_range", "solver", "iterations", "converged", "trace", "trace_samples", "trace_std", "hvp", "examples")
	// At a trained point (near a minimum) the dominant curvature is positive.
	if !(res.TopEigenvalue > 0) || res.Iterations < 1 || res.Iterations > 5 || m["examples"] != 40.0 || m["trace_samples"] != 3.0 || m["hvp"] != HVPExact {
		t.Errorf("sharpness.json: %v", m)
	}
	if _, err := os.Stat(filepath.Join(out, ProbeInfoFile)); err != nil {
		t.Error(err)
	}
	density, _ := m["density"].(map[string]any)
	hasFields(t, SharpnessFile+" density", density, "vectors", "steps", "nodes", "weights", "smallest", "largest")
	if d := res.Density; d == nil || d.Vectors != 2 || d.Steps != 7 || len(d.Nodes) != 2 || len(d.Nodes[1]) != 7 ||
		d.Largest < res.TopEigenvalue*(1-1e-3) || d.Smallest > d.Largest {
		t.Errorf("density %+v, top eigenvalue %v", d, res.TopEigenvalue)
	}
}

// TestSharpnessNotFinite measures a point with a NaN weight, whose Hessian-vector
// products are not finite: the probe still finishes, its top eigenvalue and trace NaN,
// its density left out with a note saying why (a batch over a study goes on to the next
// run), and the density's Lanczos iteration names where it stopped.
func TestSharpnessNotFinite(t *testing.T) {
	ds := probeDataset(20, 5)
	backend, err := experiment.NewBackend("go")
	if err != nil {
		t.Fatal(err)
	}
	net, err := experiment.NewNet(backend, "mlp", models.Config{Hidden: 8, Classes: 3}, 4, 4, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	w, err := net.Weights()
	if err != nil {
		t.Fatal(err)
	}
	w.Tensors[0].Data[0] = float32(math.NaN())
	s := SharpnessSettings{Iterations: 3, TraceSamples: 2, DensityVectors: 2, LanczosSteps: 4}.WithDefaults()
	res, err := sharpnessAt(context.Background(), net, w, ds.Train, s, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(float64(res.TopEigenvalue)) || !math.IsNaN(float64(res.Trace)) || res.Density != nil ||
		!strings.Contains(res.DensityNote, "not finite") || !strings.Contains(res.DensitySummary(), "eigenvalue density: none") {
		t.Errorf("λ %v, trace %v, density %v, note %q, summary %q", res.TopEigenvalue, res.Trace, res.Density, res.DensityNote, res.DensitySummary())
	}
	data, err := json.Marshal(res)
	if err != nil {
		t.Fatalf("sharpness.json of a point that is not finite: %v", err)
	}
	if !strings.Contains(string(data), `"top_eigenvalue":null`) || !strings.Contains(string(data), `"density_note":`) {
		t.Errorf("sharpness.json: %s", data)
	}

	values := []float64{1, 2, math.NaN(), 4}
	_, err = hessianDensity(diagonalOperator(values), func() *experiment.Weights { return vectorWeights([]float64{1, 1, 1, 1}) },
		2, 3, func(int, int) {})
	if !errors.Is(err, errNotFinite) || !strings.Contains(err.Error(), "vector 1: lanczos step 1") {
		t.Errorf("density of an operator with a NaN eigenvalue: %v", err)
	}
}

// TestPowerIteration runs the power iteration on diagonal operators: it converges to the
// eigenvalue of largest magnitude, negative too, and does not claim convergence where v
// swings between eigenvalues λ and −λ of one magnitude (its quotient then stands still).
func TestPowerIteration(t *testing.T) {
	tests := []struct {
		name      string
		diagonal  []float32
		start     []float32 // a unit vector
		want      float64
		converged bool
	}{
		{"positive", []float32{3, 1, 0.5}, []float32{0.6, 0.64, 0.48}, 3, true},
		{"negative", []float32{-3, 1, 0.5}, []float32{0.6, 0.64, 0.48}, -3, true},
		// v swings between (0.8, 0.6) and (0.8, -0.6); its quotient stays 0.56.
		{"plus and minus 2", []float32{2, -2}, []float32{0.8, 0.6}, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := &experiment.Weights{Tensors: []experiment.Tensor{{Name: "w", Shape: []int{len(tc.start)}, Data: tc.start, Trainable: true}}}
			hvp := func(x *experiment.Weights) (*experiment.Weights, error) {
				y := x.Clone()
				for i := range y.Tensors[0].Data {
					y.Tensors[0].Data[i] *= tc.diagonal[i]
				}
				return y, nil
			}
			lambda, k, converged, err := powerIteration(v, hvp, 60, 1e-3, func(int, float64) {})
			if err != nil {
				t.Fatal(err)
			}
			if converged != tc.converged || converged && math.Abs(lambda-tc.want) > 1e-2*math.Abs(tc.want) {
				t.Errorf("eigenvalue %v after %d products, converged %v; want %v, converged %v", lambda, k, converged, tc.want, tc.converged)
			}
		})
	}
}

// TestSharpnessResultJSON reads sharpness.json as this version writes it and as earlier
// ones did, before there was a choice of solver: theirs is the power iteration, with its
// count under "power_iterations".
func TestSharpnessResultJSON(t *testing.T) {
	written, err := json.Marshal(SharpnessResult{TopEigenvalue: 3, Solver: SolverLanczos, Iterations: 12, Converged: true})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, file string
		solver     string
		iterations int
	}{
		{"this version", string(written), SolverLanczos, 12},
		{"an earlier version", `{"top_eigenvalue":3,"power_iterations":7,"converged":true,"trace":5}`, SolverPower, 7},
	}
	for _, tc := range tests {
		var r SharpnessResult
		if err := json.Unmarshal([]byte(tc.file), &r); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if r.Solver != tc.solver || r.Iterations != tc.iterations || r.TopEigenvalue != 3 || !r.Converged {
			t.Errorf("%s: %s read as %+v", tc.name, tc.file, r)
		}
	}
}

// TestConvergenceNote: the note says how the top eigenvalue was reached, and where the
// estimates ranged when it was not.
func TestConvergenceNote(t *testing.T) {
	tests := []struct {
		res  SharpnessResult
		want string
	}{
		{SharpnessResult{Solver: SolverLanczos, Iterations: 7, Converged: true, TopEigenvalueRange: [2]experiment.Float{2.9, 3}}, "7 Lanczos steps, converged"},
		{SharpnessResult{Solver: SolverPower, Iterations: 100, TopEigenvalueRange: [2]experiment.Float{3.39956, 3.4343}},
			"100 power iterations, not converged: the last estimates range 3.4 to 3.434"},
		{SharpnessResult{Iterations: 9, Converged: true}, "9 power iterations, converged"}, // a file of an earlier version
	}
	for _, tc := range tests {
		if got := tc.res.ConvergenceNote(); got != tc.want {
			t.Errorf("ConvergenceNote() = %q, want %q", got, tc.want)
		}
	}
}

// TestOutliers: the count is of the eigenvalues above the largest ratio of neighbours,
// among the leading positive ones, and there is none without two gaps to choose from.
func TestOutliers(t *testing.T) {
	tests := []struct {
		name   string
		values []experiment.Float
		count  int
		gap    float64
		ok     bool
	}{
		{"nine outliers over a bulk", []experiment.Float{40, 33, 30, 25, 22, 20, 18, 16, 12, 5, 4.8, 4.5}, 9, 12.0 / 5, true},
		{"one outlier", []experiment.Float{10, 2, 1.9}, 1, 5, true},
		{"the ratio, not the difference", []experiment.Float{100, 80, 2, 1}, 2, 40, true},
		{"a negative value ends the positive ones", []experiment.Float{9, 3, 2.5, -1, -20}, 1, 3, true},
		{"ties take the first", []experiment.Float{8, 4, 2, 1}, 1, 2, true},
		{"two values: one gap", []experiment.Float{5, 1}, 0, math.NaN(), false},
		{"only two positive", []experiment.Float{5, 1, 0, -3}, 0, math.NaN(), false},
		{"not finite", []experiment.Float{experiment.Float(math.NaN()), 3, 2, 1}, 0, math.NaN(), false},
		{"none found", nil, 0, math.NaN(), false},
	}
	for _, tc := range tests {
		r := SharpnessResult{TopEigenvalues: tc.values}
		count, gap, ok := r.Outliers()
		if count != tc.count || ok != tc.ok || (ok && math.Abs(gap-tc.gap) > 1e-12) || (!ok && !math.IsNaN(gap)) {
			t.Errorf("%s: Outliers(%v) = %d, %g, %v; want %d, %g, %v", tc.name, tc.values, count, gap, ok, tc.count, tc.gap, tc.ok)
		}
	}
}
