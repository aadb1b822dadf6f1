package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/gomlx/compute"

	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/experiment"
)

// SharpnessSettings configures Sharpness. The zero value of every field is its default.
type SharpnessSettings struct {
	// Solver is how the top eigenvalue is found: SolverLanczos (the default) or
	// SolverPower, the power iteration earlier versions used.
	Solver string `json:"solver,omitempty"`
	// Iterations is the most Hessian-vector products of the solver (Lanczos steps or
	// power iterations). Default 20, or 4·Top for more than 5 eigenvalues.
	Iterations int `json:"iterations,omitempty"`
	// Top is how many of the largest eigenvalues the Lanczos solver finds (0 or 1: λ_max
	// alone); it stops when every one of them has converged. Their vectors span the
	// directions the loss curves up fastest in: with C classes, a trained net's Hessian
	// has about C outliers above its bulk.
	Top int `json:"top,omitempty"`
	// Tolerance stops the solver. Lanczos: when its Ritz vector's residual |Hv − λv| is
	// at most Tolerance·|λ| (an eigenvalue of H lies within it). Power iteration: when
	// the estimate changes by less than Tolerance·|λ| between iterations and the vector is
	// nearly an eigenvector (|Hv − λv| ≤ √Tolerance·|λ|). Default 1e-3.
	Tolerance float64 `json:"tolerance,omitempty"`
	// TraceSamples is the number of Rademacher vectors of the Hutchinson trace
	// estimate. Default 10.
	TraceSamples int `json:"trace_samples,omitempty"`
	// HVP is how Hessian-vector products are computed: HVPExact (differentiating the
	// gradient graph again) or HVPFiniteDifference (a central difference of two
	// gradients). Default exact. Where ReLUs switch within the step, a finite difference
	// adds the jumps of the gradient: on a trained 784-512-10 MLP, Hutchinson's trace came
	// out about 4 times the exact one (the top eigenvalue within about 1%).
	HVP string `json:"hvp,omitempty"`
	// Epsilon is the finite-difference step, a distance in weight space along a unit
	// direction. Default 1e-3: small against the weights (MLP layers have norms ~10),
	// large enough that float32 gradient rounding (~1e-7 relative) stays below ~1e-4
	// of the result.
	Epsilon float64 `json:"epsilon,omitempty"`
	// DensityVectors is the number of random vectors of the eigenvalue density
	// (HessianDensity, stochastic Lanczos quadrature); 0, the default, estimates none.
	DensityVectors int `json:"density_vectors,omitempty"`
	// LanczosSteps is the number of Lanczos steps (Hessian-vector products) per density
	// vector: the nodes of its quadrature. Default 40; at most MaxLanczosSteps.
	LanczosSteps int `json:"lanczos_steps,omitempty"`
	// Seed fixes the random start vector and the Rademacher vectors. 0 is a valid seed.
	Seed uint64 `json:"seed"`
	// BatchSize is the size of the chunks each full gradient is accumulated over.
	// Default 1000.
	BatchSize int `json:"batch_size,omitempty"`
}

// Solvers of the top eigenvalue (SharpnessSettings.Solver).
const (
	// SolverLanczos takes the largest Ritz value of the Lanczos iteration: λ_max,
	// approached from below. Where the top of the spectrum is crowded it gets there in
	// far fewer products than a power iteration: at a MNIST MLP's extreme point 15
	// Lanczos steps settle to 6 digits, while 20 power iterations still rise by 0.5% a step.
	SolverLanczos = "lanczos"
	// SolverPower is the power iteration: the eigenvalue of largest magnitude (negative
	// if that one is), the only solver of earlier versions.
	SolverPower = "power"
)

// Ways of computing Hessian-vector products (SharpnessSettings.HVP).
const (
	HVPExact            = "exact"
	HVPFiniteDifference = "finite-difference"
)

// WithDefaults returns s with every zero field replaced by its default.
func (s SharpnessSettings) WithDefaults() SharpnessSettings {
	if s.HVP == "" {
		s.HVP = HVPExact
	}
	if s.Solver == "" {
		s.Solver = SolverLanczos
	}
	if s.Iterations == 0 {
		s.Iterations = max(20, 4*s.Top)
	}
	if s.Tolerance == 0 {
		s.Tolerance = 1e-3
	}
	if s.TraceSamples == 0 {
		s.TraceSamples = 10
	}
	if s.Epsilon == 0 {
		s.Epsilon = 1e-3
	}
	if s.BatchSize == 0 {
		s.BatchSize = defaultEvalBatch
	}
	if s.DensityVectors > 0 && s.LanczosSteps == 0 {
		s.LanczosSteps = 40
	}
	return s
}

// Validate reports invalid settings.
func (s SharpnessSettings) Validate() error {
	s = s.WithDefaults()
	if err := checkCounts("sharpness", count{"iterations", s.Iterations}, count{"trace samples", s.TraceSamples},
		count{"batch size", s.BatchSize}); err != nil {
		return err
	}
	if s.Iterations == 1 { // an estimate converges when the next agrees with it
		return fmt.Errorf("sharpness: 1 iteration gives no estimate of the top eigenvalue: want at least 2 (default 20)")
	}
	if s.Iterations > MaxProbeSteps {
		return fmt.Errorf("sharpness: %d iterations: at most %d", s.Iterations, MaxProbeSteps)
	}
	if s.TraceSamples > MaxProbeSteps {
		return fmt.Errorf("sharpness: %d trace samples: at most %d", s.TraceSamples, MaxProbeSteps)
	}
	if s.DensityVectors < 0 || s.DensityVectors > MaxProbeSteps {
		return fmt.Errorf("sharpness: %d density vectors: want 0 (none) to %d", s.DensityVectors, MaxProbeSteps)
	}
	if s.LanczosSteps < 0 || s.LanczosSteps > MaxLanczosSteps {
		return fmt.Errorf("sharpness: %d Lanczos steps: want 1 to %d (default 40)", s.LanczosSteps, MaxLanczosSteps)
	}
	if !finiteValue(s.Tolerance) || s.Tolerance < 0 {
		return fmt.Errorf("sharpness: tolerance %v: want a fraction above 0 and below 1 (default 1e-3)", s.Tolerance)
	}
	if !finiteValue(s.Epsilon) || s.Epsilon < 0 {
		return fmt.Errorf("sharpness: epsilon %v: want a finite step above 0 (default 1e-3)", s.Epsilon)
	}
	if s.Tolerance >= 1 { // a relative change: 1 or more stops at the second step, whatever the eigenvalue
		return fmt.Errorf("sharpness: tolerance %g: want a fraction below 1 (default 1e-3)", s.Tolerance)
	}
	if s.Solver != SolverLanczos && s.Solver != SolverPower {
		return fmt.Errorf("sharpness: unknown solver %q: valid are %s, %s", s.Solver, SolverLanczos, SolverPower)
	}
	if s.Top < 0 || s.Top > MaxLanczosSteps {
		return fmt.Errorf("sharpness: top %d: want 1 to %d eigenvalues (default 1)", s.Top, MaxLanczosSteps)
	}
	if s.Top > 1 && s.Solver != SolverLanczos {
		return fmt.Errorf("sharpness: top %d: only the %s solver finds more than the largest eigenvalue", s.Top, SolverLanczos)
	}
	if s.Top > s.Iterations {
		return fmt.Errorf("sharpness: top %d in %d iterations: Lanczos finds at most one eigenvalue a step", s.Top, s.Iterations)
	}
	if s.Solver == SolverLanczos && s.Iterations > MaxLanczosSteps { // it keeps a vector a step
		return fmt.Errorf("sharpness: %d iterations: at most %d Lanczos steps (the power solver takes more)", s.Iterations, MaxLanczosSteps)
	}
	if s.HVP != "" && s.HVP != HVPExact && s.HVP != HVPFiniteDifference {
		return fmt.Errorf("sharpness: unknown Hessian-vector product %q: valid are %s, %s", s.HVP, HVPExact, HVPFiniteDifference)
	}
	if s.Epsilon > 1 { // a step along a unit direction: beyond 1, no derivative
		return fmt.Errorf("sharpness: epsilon %g: the finite-difference step must be at most 1 (default 1e-3)", s.Epsilon)
	}
	return nil
}

// SharpnessResult is the content of sharpness.json.
type SharpnessResult struct {
	// TopEigenvalue is λ_max: with SolverLanczos the largest Ritz value, the largest
	// Hessian eigenvalue; with SolverPower the Rayleigh quotient vᵀHv of the last
	// power-iteration vector, the eigenvalue of largest magnitude (negative if that one is).
	TopEigenvalue experiment.Float `json:"top_eigenvalue"`
	// TopEigenvalues are the Top largest eigenvalues, largest first, where Top asked for
	// more than one (TopEigenvalue is the first); Converged then says all of them did.
	TopEigenvalues []experiment.Float `json:"top_eigenvalues,omitempty"`
	// Solver is SharpnessSettings.Solver; files of versions without it used the power
	// iteration, and "power_iterations" for Iterations.
	Solver string `json:"solver"`
	// Iterations is the number of Hessian-vector products the solver took; Converged
	// whether it met the tolerance within the allowed iterations.
	Iterations int  `json:"iterations"`
	Converged  bool `json:"converged"`
	// TopEigenvalueRange is the smallest and largest of the last estimates (the last
	// half, up to rangeEstimates): where an estimate that did not converge wanders. Finite-difference
	// products through ReLU kinks can leave it cycling between nearby values.
	TopEigenvalueRange [2]experiment.Float `json:"top_eigenvalue_range"`
	// Trace is Hutchinson's estimate of the Hessian trace, the mean of zᵀHz over
	// TraceSamples Rademacher vectors z; TraceStd its standard error (the samples'
	// standard deviation / √TraceSamples; null for one sample).
	Trace        experiment.Float `json:"trace"`
	TraceSamples int              `json:"trace_samples"`
	TraceStd     experiment.Float `json:"trace_std"`
	// HVP is how the Hessian-vector products were computed (HVPExact or
	// HVPFiniteDifference), Epsilon the finite-difference step (absent for exact ones);
	// Examples the number of training examples the loss was averaged over.
	HVP      string  `json:"hvp"`
	Epsilon  float64 `json:"epsilon,omitempty"`
	Examples int     `json:"examples"`
	// Density is the eigenvalue density, where DensityVectors asked for one. Where a
	// Hessian-vector product on the way was not finite (as at a point where the loss
	// overflows) it is absent, and DensityNote says so; the top eigenvalue and the trace
	// are then not finite either, and kept as they are.
	Density     *HessianDensity `json:"density,omitempty"`
	DensityNote string          `json:"density_note,omitempty"`
	// Loss is the clean training loss at the point.
	Loss    experiment.Float `json:"loss"`
	Seconds float64          `json:"seconds"`
}

// UnmarshalJSON reads sharpness.json, also as versions before Solver wrote it: those
// used the power iteration and named Iterations "power_iterations".
func (r *SharpnessResult) UnmarshalJSON(data []byte) error {
	type plain SharpnessResult // without this method
	var file struct {
		plain
		PowerIterations *int `json:"power_iterations"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		return err
	}
	*r = SharpnessResult(file.plain)
	if r.Solver == "" {
		r.Solver = SolverPower
		if file.PowerIterations != nil {
			r.Iterations = *file.PowerIterations
		}
	}
	return nil
}

// DensitySummary is one line on the eigenvalue density: the range of its eigenvalues, or
// why there is none though one was asked for; "" where none was.
func (r *SharpnessResult) DensitySummary() string {
	if d := r.Density; d != nil {
		return fmt.Sprintf("eigenvalue density, %d x %d Lanczos steps (vectors x steps): eigenvalues from %.6g to %.6g",
			d.Vectors, d.Steps, float64(d.Smallest), float64(d.Largest))
	}
	if r.DensityNote != "" {
		return "eigenvalue density: " + r.DensityNote
	}
	return ""
}

// TraceText is the trace estimate and its standard error, "T ± E", or where one sample
// gave no error, "T (one sample: no error estimate)".
func (r *SharpnessResult) TraceText() string {
	if math.IsNaN(float64(r.TraceStd)) {
		return fmt.Sprintf("%.5g (one sample: no error estimate)", float64(r.Trace))
	}
	return fmt.Sprintf("%.5g ± %.3g", float64(r.Trace), float64(r.TraceStd))
}

// ConvergenceNote says how the top eigenvalue was reached: "N Lanczos steps, converged"
// (or power iterations), or where the last estimates ranged when the solver did not
// converge.
func (r *SharpnessResult) ConvergenceNote() string {
	iterations := fmt.Sprintf("%d Lanczos steps", r.Iterations)
	if r.Solver != SolverLanczos {
		iterations = fmt.Sprintf("%d power iterations", r.Iterations)
	}
	if r.Converged {
		return iterations + ", converged"
	}
	return fmt.Sprintf("%s, not converged: the last estimates range %.4g to %.4g",
		iterations, float64(r.TopEigenvalueRange[0]), float64(r.TopEigenvalueRange[1]))
}

// Outliers counts the outliers among TopEigenvalues: those above the largest gap between
// neighbours, the gap measured as their ratio λ_i/λ_i+1. A net trained with cross-entropy
// on C classes has about C − 1 eigenvalues standing out of the Hessian's bulk (Papyan,
// 2019). gap is that ratio. It needs three positive eigenvalues or more, the largest
// first (two gaps to choose from); ok is false otherwise. Where the net has as many
// outliers as were found or more, the count is not theirs: find more (SharpnessSettings.Top).
func (r *SharpnessResult) Outliers() (count int, gap float64, ok bool) {
	values := make([]float64, len(r.TopEigenvalues))
	for i, v := range r.TopEigenvalues {
		values[i] = float64(v)
	}
	return outliersAboveGap(values)
}

// outliersAboveGap is SharpnessResult.Outliers of the values, the largest first: among
// the leading positive ones, how many lie above the largest ratio of neighbours.
func outliersAboveGap(values []float64) (count int, gap float64, ok bool) {
	positive := 0
	for positive < len(values) && finiteValue(values[positive]) && values[positive] > 0 {
		positive++
	}
	if positive < 3 {
		return 0, math.NaN(), false
	}
	for i := range positive - 1 {
		if ratio := values[i] / values[i+1]; ratio > gap {
			count, gap = i+1, ratio
		}
	}
	return count, gap, true
}

// rangeEstimates is the most of the last power-iteration estimates TopEigenvalueRange
// spans; it spans the last half of fewer, leaving out the first, from the random start.
const rangeEstimates = 10

// powerIteration estimates the eigenvalue of largest magnitude of the symmetric operator
// hvp from the unit vector v: the Rayleigh quotient vᵀHv of v ← Hv/|Hv|, at most
// iterations products. It has converged when the estimate changes by at most
// tol·|estimate| and v is nearly an eigenvector: |Hv − λv| at most √tol·|λ| (the quotient
// converges twice as fast as the vector). Without the second test, eigenvalues λ and −λ
// of one magnitude, between which v swings, would read as converged at a value between
// them. report(k, estimate) is called after each product.
func powerIteration(v *experiment.Weights, hvp func(*experiment.Weights) (*experiment.Weights, error), iterations int, tol float64,
	report func(k int, estimate float64)) (lambda float64, k int, converged bool, err error) {
	lambda = math.NaN()
	for k = 1; k <= iterations; k++ {
		hv, err := hvp(v)
		if err != nil {
			return lambda, k, false, err
		}
		next, err := v.Dot(hv)
		if err != nil {
			return lambda, k, false, err
		}
		report(k, next)
		residual := hv.Clone()
		if err := residual.Axpy(-next, v); err != nil {
			return lambda, k, false, err
		}
		if math.Abs(next-lambda) <= tol*math.Abs(next) && residual.Norm() <= math.Sqrt(tol)*math.Abs(next) {
			return next, k, true, nil
		}
		lambda = next
		norm := hv.Norm()
		if norm == 0 || !finiteValue(norm) {
			return lambda, k, false, nil // H·v = 0 (v in the null space: the estimate is 0) or not finite: keep it
		}
		hv.Scale(1 / norm)
		v = hv
	}
	return lambda, iterations, false, nil
}

// sharpnessRand is the random source of a seed: the solver's start vector,
// then the trace's and the density's vectors.
func sharpnessRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5ba4)) }

// startVector draws the solver's unit start vector from rng (sharpnessRand's, first).
func startVector(w *experiment.Weights, rng *rand.Rand) *experiment.Weights {
	v := randomDirection(w, rng, false)
	v.Scale(1 / v.Norm())
	return v
}

// exactHVPAt sets net to w and returns the exact Hessian-vector product of the clean loss
// over split there, checking ctx before each product (see checkingContext).
func exactHVPAt(ctx context.Context, net *experiment.Net, w *experiment.Weights, split *datasets.Split, batchSize int) (func(*experiment.Weights) (*experiment.Weights, error), error) {
	if err := net.SetWeights(w); err != nil {
		return nil, err
	}
	return checkingContext(ctx, func(v *experiment.Weights) (*experiment.Weights, error) {
		return net.HessianVectorProduct(split, batchSize, nil, v)
	}), nil
}

// checkingContext returns product, stopping with ctx's error once ctx is done: a solver's
// products each take seconds on a large split.
func checkingContext(ctx context.Context, product func(*experiment.Weights) (*experiment.Weights, error)) func(*experiment.Weights) (*experiment.Weights, error) {
	return func(v *experiment.Weights) (*experiment.Weights, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return product(v)
	}
}

// HessianVectorProduct returns H·v, H the Hessian at w of the mean cross-entropy on split
// (inference mode, the split's labels) with respect to the trainable parameters, by a
// central difference of gradients: H·v ≈ |v|·(∇L(w+εu) − ∇L(w−εu)) / (2ε), u = v/|v|.
// The error is O(ε²) where the loss is smooth; at ReLU kinks crossed within ε it is a
// local average of the Hessian. net holds w again on return.
func HessianVectorProduct(net *experiment.Net, split *datasets.Split, w, v *experiment.Weights, epsilon float64, batchSize int) (*experiment.Weights, error) {
	norm := v.Norm()
	if norm == 0 || !finiteValue(norm) {
		return nil, fmt.Errorf("hessian-vector product: direction of norm %v", norm)
	}
	gradAt := func(sign float64) (*experiment.Weights, error) {
		x := w.Clone()
		if err := x.Axpy(sign*epsilon/norm, v); err != nil {
			return nil, err
		}
		if err := net.SetWeights(x); err != nil {
			return nil, err
		}
		g, _, err := net.Gradient(split, batchSize, nil)
		return g, err
	}
	plus, err := gradAt(1)
	var minus *experiment.Weights
	if err == nil {
		minus, err = gradAt(-1)
	}
	if restoreErr := net.SetWeights(w); err == nil {
		err = restoreErr
	}
	if err != nil {
		return nil, err
	}
	// The difference in float64 before rounding: the two gradients are close.
	hv := plus.Clone()
	for i := range hv.Tensors {
		t := &hv.Tensors[i]
		for j := range t.Data {
			t.Data[j] = float32((float64(plus.Tensors[i].Data[j]) - float64(minus.Tensors[i].Data[j])) * norm / (2 * epsilon))
		}
	}
	return hv, nil
}

// randomDirection returns a vector shaped like w: standard normal (or Rademacher ±1)
// entries on the trainable tensors, zeros elsewhere.
func randomDirection(w *experiment.Weights, rng *rand.Rand, rademacher bool) *experiment.Weights {
	d := w.Clone()
	for i := range d.Tensors {
		t := &d.Tensors[i]
		for j := range t.Data {
			switch {
			case !t.Trainable:
				t.Data[j] = 0
			case rademacher:
				t.Data[j] = float32(2*rng.IntN(2) - 1)
			default:
				t.Data[j] = float32(rng.NormFloat64())
			}
		}
	}
	return d
}

// Sharpness estimates the top Hessian eigenvalue (Lanczos or power iteration, as s.Solver
// says, on Hessian-vector products, exact or by finite differences as s.HVP says) and the Hessian trace
// (Hutchinson, Rademacher vectors) of the mean cross-entropy on the clean training split
// of ds (true labels, inference mode) at point. Each Hessian-vector product costs about
// two full gradients.
//
// backend nil means the Go backend. If outDir is not empty it is created (it must not
// hold files) and receives probe.json and sharpness.json. Progress lines go to progress
// (nil: none).
func Sharpness(ctx context.Context, backend compute.Backend, point Point, ds *datasets.Dataset, s SharpnessSettings, outDir string, progress io.Writer) (*SharpnessResult, error) {
	backend, release, err := probeBackend(backend)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	s = s.WithDefaults()
	lp, err := loadPoint(backend, point, ds)
	if err != nil {
		return nil, err
	}
	out, err := startPointOutput("sharpness", lp, ds, s, outDir)
	if err != nil {
		return nil, err
	}
	res, err := sharpnessAt(ctx, lp.net, lp.start, ds.Train, s, orDiscard(progress))
	if err != nil {
		return nil, err
	}
	if err := out.writeJSON(SharpnessFile, res); err != nil {
		return res, err
	}
	return res, out.finish()
}

// sharpnessAt is Sharpness on a net holding weights w; s has its defaults.
func sharpnessAt(ctx context.Context, net *experiment.Net, w *experiment.Weights, split *datasets.Split, s SharpnessSettings, progress io.Writer) (*SharpnessResult, error) {
	start := time.Now()
	res := &SharpnessResult{Solver: s.Solver, HVP: s.HVP, Examples: split.Len(), TraceSamples: s.TraceSamples}
	product := func(v *experiment.Weights) (*experiment.Weights, error) {
		return net.HessianVectorProduct(split, s.BatchSize, nil, v)
	}
	if res.HVP == HVPFiniteDifference {
		res.Epsilon = s.Epsilon
		product = func(v *experiment.Weights) (*experiment.Weights, error) {
			return HessianVectorProduct(net, split, w, v, s.Epsilon, s.BatchSize)
		}
	}
	if err := net.SetWeights(w); err != nil {
		return nil, err
	}
	_, loss, err := net.Gradient(split, s.BatchSize, nil)
	if err != nil {
		return nil, err
	}
	res.Loss = experiment.Float(loss)
	rng := sharpnessRand(s.Seed)
	v := startVector(w, rng)
	hvp := checkingContext(ctx, product)
	var estimates []float64
	report := func(step string) func(k int, estimate float64) {
		return func(k int, estimate float64) {
			estimates = append(estimates, estimate)
			fmt.Fprintf(progress, "sharpness: %s %d/%d: top eigenvalue %.6g\n", step, k, s.Iterations, estimate)
		}
	}
	var lambda float64
	var iterations int
	var converged bool
	switch s.Solver {
	case SolverPower:
		lambda, iterations, converged, err = powerIteration(v, hvp, s.Iterations, s.Tolerance, report("power iteration"))
	default: // the Top largest, λ_max alone by default
		var top *ritzPairs
		step := report("Lanczos step")
		top, err = lanczosLargest(v, hvp, s.Iterations, max(1, s.Top), s.Tolerance, func(k int, values []float64) {
			step(k, values[0])
			if len(values) > 1 {
				fmt.Fprintf(progress, "sharpness: Lanczos step %d/%d: top %d eigenvalues %.6g\n", k, s.Iterations, len(values), values)
			}
		})
		if err == nil {
			lambda, iterations, converged = top.Values[0], top.Steps, top.Converged
			if s.Top > 1 {
				res.TopEigenvalues = jsonFloats(top.Values)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	if len(estimates) == 0 { // the first product was not finite
		estimates = append(estimates, lambda)
	}
	res.Iterations, res.Converged = iterations, converged
	res.TopEigenvalue = experiment.Float(lambda)
	last := estimates[len(estimates)-min(rangeEstimates, (len(estimates)+1)/2):]
	res.TopEigenvalueRange = [2]experiment.Float{experiment.Float(slices.Min(last)), experiment.Float(slices.Max(last))}
	samples := make([]float64, 0, s.TraceSamples)
	for i := range s.TraceSamples {
		z := randomDirection(w, rng, true)
		hz, err := hvp(z)
		if err != nil {
			return nil, err
		}
		q, err := z.Dot(hz)
		if err != nil {
			return nil, err
		}
		samples = append(samples, q)
		fmt.Fprintf(progress, "sharpness: trace sample %d/%d: zᵀHz %.6g\n", i+1, s.TraceSamples, q)
	}
	var mean, sq float64
	for _, q := range samples {
		mean += q
	}
	mean /= float64(len(samples))
	for _, q := range samples {
		sq += (q - mean) * (q - mean)
	}
	res.Trace = experiment.Float(mean)
	res.TraceStd = experiment.Float(math.NaN())
	if n := float64(len(samples)); n > 1 {
		res.TraceStd = experiment.Float(math.Sqrt(sq/(n-1)) / math.Sqrt(n))
	}
	if s.DensityVectors > 0 {
		draw := func() *experiment.Weights { return randomDirection(w, rng, true) }
		res.Density, err = hessianDensity(hvp, draw, s.DensityVectors, s.LanczosSteps, func(vector, step int) {
			fmt.Fprintf(progress, "sharpness: density vector %d/%d: Lanczos step %d/%d\n", vector, s.DensityVectors, step, s.LanczosSteps)
		})
		switch {
		case errors.Is(err, errNotFinite):
			res.DensityNote = fmt.Sprintf("none, a Hessian-vector product was not finite (%v)", err)
		case err != nil:
			return nil, fmt.Errorf("sharpness: eigenvalue density: %w", err)
		}
	}
	res.Seconds = time.Since(start).Seconds()
	fmt.Fprintf(progress, "sharpness: top eigenvalue %.6g (%s), trace %s\n", lambda, res.ConvergenceNote(), res.TraceText())
	if line := res.DensitySummary(); line != "" {
		fmt.Fprintf(progress, "sharpness: %s\n", line)
	}
	return res, nil
}
