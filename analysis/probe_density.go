package analysis

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"

	"github.com/extremepoints/esp/experiment"
)

// MaxLanczosSteps bounds the Lanczos steps of the Hessian density: each step keeps one
// more vector the size of the weights (full reorthogonalization).
const MaxLanczosSteps = 500

// HessianDensity is the Hessian's eigenvalue density by stochastic Lanczos quadrature
// (Golub & Meurant; Ghorbani et al. 2019): for each random unit vector z, Steps Lanczos
// steps on H from z give a Gauss quadrature, nodes θ and weights τ (summing to 1), with
// Σ τ f(θ) = zᵀf(H)z exactly for polynomials f of degree below 2·Steps. Averaged over
// the vectors, Σ τ δ(λ − θ) estimates the spectral density, (1/n) Σᵢ δ(λ − λᵢ) over the n
// eigenvalues: its extreme nodes converge first to the extreme eigenvalues (from inside
// the spectrum), its bulk is resolved only up to the node spacing.
type HessianDensity struct {
	Vectors int `json:"vectors"`
	Steps   int `json:"steps"`
	// Nodes and Weights hold one quadrature per vector (fewer nodes than Steps where the
	// Krylov space closed early).
	Nodes   [][]experiment.Float `json:"nodes"`
	Weights [][]experiment.Float `json:"weights"`
	// Smallest and Largest are the extreme nodes over all vectors: estimates, from inside
	// the spectrum, of the smallest (most negative) and largest eigenvalue.
	Smallest experiment.Float `json:"smallest"`
	Largest  experiment.Float `json:"largest"`
}

// At returns the density smoothed by a Gaussian of standard deviation sigma (> 0) at
// each of lambda: the mean over the vectors of Σ τ·N(λ; θ, σ²), which integrates to 1.
func (d *HessianDensity) At(lambda []float64, sigma float64) []float64 {
	density := make([]float64, len(lambda))
	norm := 1 / (float64(max(len(d.Nodes), 1)) * sigma * math.Sqrt(2*math.Pi))
	for i, x := range lambda {
		var sum float64
		for v, nodes := range d.Nodes {
			for k, theta := range nodes {
				u := (x - float64(theta)) / sigma
				sum += float64(d.Weights[v][k]) * math.Exp(-u*u/2)
			}
		}
		density[i] = sum * norm
	}
	return density
}

// extremes returns the smallest and largest node of d, or an error where d is no set of
// quadratures (as a damaged sharpness.json may hold): no nodes, nodes and weights of
// other lengths, values that are not finite, negative weights.
func (d *HessianDensity) extremes() (lo, hi float64, err error) {
	if len(d.Nodes) == 0 || len(d.Nodes) != len(d.Weights) {
		return 0, 0, fmt.Errorf("%d vectors of nodes and %d of weights", len(d.Nodes), len(d.Weights))
	}
	lo, hi = math.Inf(1), math.Inf(-1)
	for v, nodes := range d.Nodes {
		if len(nodes) == 0 || len(nodes) != len(d.Weights[v]) {
			return 0, 0, fmt.Errorf("vector %d: %d nodes and %d weights", v+1, len(nodes), len(d.Weights[v]))
		}
		for k, theta := range nodes {
			if w := float64(d.Weights[v][k]); !finiteValue(float64(theta)) || !finiteValue(w) || w < 0 {
				return 0, 0, fmt.Errorf("vector %d: node %v of weight %v", v+1, float64(theta), w)
			}
			lo, hi = min(lo, float64(theta)), max(hi, float64(theta))
		}
	}
	return lo, hi, nil
}

// DensitySeries is one eigenvalue density of a DensityFigure.
type DensitySeries struct {
	Label   string
	Density *HessianDensity
	Color   color.Color // nil: by position
}

// DensityFigure draws eigenvalue densities (for example at a normal and at an extreme
// point) on one logarithmic axis: each smoothed by a Gaussian of 1% of the range all
// their nodes span, at 400 points from 5 of those beyond either end; values below 10⁻⁹
// of the largest are drawn at that floor (between the nodes the smoothed density falls
// off a Gaussian's tail over hundreds of decades). The floor is that low for the outliers:
// a random vector gives an eigenvalue a weight of about one over the parameters, 10⁻⁵ to
// 10⁻⁷ of the bulk's for these models, and a higher one hid λ_max. A density that is no set of
// quadratures (nodes and weights of other lengths, values not finite) is refused.
func DensityFigure(name, title string, series ...DensitySeries) (*Figure, error) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range series {
		if s.Density == nil {
			return nil, fmt.Errorf("figure %s: series %q has no density", name, s.Label)
		}
		slo, shi, err := s.Density.extremes()
		if err != nil {
			return nil, fmt.Errorf("figure %s: series %q: damaged density: %w", name, s.Label, err)
		}
		lo, hi = min(lo, slo), max(hi, shi)
	}
	if len(series) == 0 || !finiteValue(lo) || !finiteValue(hi) {
		return nil, fmt.Errorf("figure %s: no finite eigenvalues to draw", name)
	}
	sigma := 0.01 * (hi - lo)
	if sigma == 0 {
		sigma = 0.01 * math.Max(math.Abs(hi), 1)
	}
	const points = 400
	lambda := make([]float64, points)
	for i := range lambda {
		lambda[i] = lo - 5*sigma + (hi-lo+10*sigma)*float64(i)/(points-1)
	}
	lines := make([]Series, len(series))
	var peak float64
	for i, s := range series {
		lines[i] = Series{Label: s.Label, X: lambda, Y: s.Density.At(lambda, sigma), Color: s.Color}
		peak = max(peak, slices.Max(lines[i].Y))
	}
	for _, l := range lines {
		for k, y := range l.Y {
			l.Y[k] = max(y, 1e-9*peak)
		}
	}
	return LineFigure(name, title, "eigenvalue", "density (log)", true, lines...)
}

// errNotFinite marks a Lanczos iteration stopped by a Hessian-vector product that was not
// finite: the density is then left out, not the whole probe failed.
var errNotFinite = errors.New("not finite")

// lanczos runs up to steps steps of the Lanczos iteration on the symmetric operator hvp
// from the direction of z, reorthogonalizing each new vector against all earlier ones (twice:
// in float32 storage one pass leaves the vectors far from orthogonal within tens of steps,
// and spurious copies of the extreme eigenvalues appear). It returns the tridiagonal
// matrix's diagonal alpha and off-diagonal beta (len(beta) = len(alpha) − 1), and the
// orthonormal basis V of the Krylov space, a vector a step (Ritz vectors are V·y, y an
// eigenvector of the tridiagonal matrix). It stops early when the Krylov space closes, or
// when step, called after each step k with the matrix so far and the norm residual of the
// next vector before normalization (H·V = V·T + residual·v·e_kᵀ), returns true.
func lanczos(z *experiment.Weights, hvp func(*experiment.Weights) (*experiment.Weights, error), steps int,
	step func(k int, alpha, beta []float64, residual float64) (stop bool)) (alpha, beta []float64, basis []*experiment.Weights, err error) {
	norm := z.Norm()
	if norm == 0 || !finiteValue(norm) {
		return nil, nil, nil, fmt.Errorf("lanczos: start vector of norm %v", norm)
	}
	v := z.Clone()
	v.Scale(1 / norm)
	basis = []*experiment.Weights{v}
	var scale float64 // the largest |α| and β so far: a bound on |H| restricted to the space
	for k := 1; k <= steps; k++ {
		w, err := hvp(v)
		if err != nil {
			return nil, nil, nil, err
		}
		a, err := v.Dot(w)
		if err != nil {
			return nil, nil, nil, err
		}
		if !finiteValue(a) {
			return nil, nil, nil, fmt.Errorf("lanczos step %d: vᵀHv is %v, %w", k, a, errNotFinite)
		}
		alpha = append(alpha, a)
		for range 2 {
			for _, u := range basis {
				c, err := u.Dot(w)
				if err != nil {
					return nil, nil, nil, err
				}
				if err := w.Axpy(-c, u); err != nil {
					return nil, nil, nil, err
				}
			}
		}
		b := w.Norm()
		if !finiteValue(b) {
			return nil, nil, nil, fmt.Errorf("lanczos step %d: the residual norm β is %v, %w", k, b, errNotFinite)
		}
		scale = max(scale, math.Abs(a), b)
		if step(k, alpha, beta, b) || k == steps || b <= 1e-6*scale {
			break // asked to, done, or the space is invariant: the quadrature is exact
		}
		beta = append(beta, b)
		w.Scale(1 / b)
		v = w
		basis = append(basis, v)
	}
	return alpha, beta, basis, nil
}

// gaussQuadrature returns the nodes (the eigenvalues, ascending) and weights (the squared
// first components of the eigenvectors) of the symmetric tridiagonal matrix with
// diagonal alpha and off-diagonal beta.
func gaussQuadrature(alpha, beta []float64) (nodes, weights []float64, err error) {
	nodes, vectors, err := tridiagonalEigen(alpha, beta)
	if err != nil {
		return nil, nil, err
	}
	weights = make([]float64, len(nodes))
	for k := range weights {
		first := vectors.At(0, k)
		weights[k] = first * first
	}
	return nodes, weights, nil
}

// tridiagonalEigen returns the eigenvalues (ascending) and eigenvectors (columns) of the
// symmetric tridiagonal matrix with diagonal alpha and off-diagonal beta.
func tridiagonalEigen(alpha, beta []float64) (values []float64, vectors *mat.Dense, err error) {
	m := len(alpha)
	t := mat.NewSymDense(m, nil)
	for i, a := range alpha {
		t.SetSym(i, i, a)
		if i+1 < m {
			t.SetSym(i, i+1, beta[i])
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(t, true) {
		return nil, nil, fmt.Errorf("lanczos: the eigendecomposition of the %dx%d tridiagonal matrix failed", m, m)
	}
	vectors = new(mat.Dense)
	eig.VectorsTo(vectors)
	return eig.Values(nil), vectors, nil
}

// lanczosTop estimates the largest eigenvalue λ_max of the symmetric operator hvp: the
// largest Ritz value θ of at most steps Lanczos steps from v. Ritz values approach λ_max
// from below, far faster than a power iteration's quotients where the top of the
// spectrum is crowded. It has converged when its Ritz vector x has |Hx − θx| (the
// residual times the last component of θ's eigenvector of the tridiagonal matrix) at
// most tol·|θ|, which puts an eigenvalue of H within tol·|θ| of θ (a bound
// powerIteration's tests do not give: where the spectrum's top is crowded, they pass
// while the estimate still rises); or when the Krylov space closed, which makes θ exact.
// report(k, θ) is called after each step. A product that is not finite ends it with θ
// NaN, not converged, and no error.
func lanczosTop(v *experiment.Weights, hvp func(*experiment.Weights) (*experiment.Weights, error), steps int, tol float64,
	report func(k int, estimate float64)) (lambda float64, k int, converged bool, err error) {
	top, err := lanczosLargest(v, hvp, steps, 1, tol, func(k int, values []float64) { report(k, values[0]) })
	if err != nil {
		return math.NaN(), top.Steps, false, err
	}
	return top.Values[0], top.Steps, top.Converged, nil
}

// ritzPairs are the largest Ritz values of Lanczos steps, largest first, and what forms
// their Ritz vectors: the Lanczos basis and the tridiagonal matrix's eigenvectors.
type ritzPairs struct {
	Values []float64
	// Steps is the number of Lanczos steps taken; Converged says whether every pair's
	// residual was within the tolerance (or the Krylov space closed, which makes them exact).
	Steps     int
	Converged bool
	basis     []*experiment.Weights
	vectors   *mat.Dense // columns ascending by eigenvalue
}

// vector returns the unit Ritz vector of Values[j]: V·y, normalized against float32 rounding.
func (r *ritzPairs) vector(j int) (*experiment.Weights, error) {
	column := len(r.basis) - 1 - j
	x := r.basis[0].Clone()
	for i := range x.Tensors {
		clear(x.Tensors[i].Data)
	}
	for i, v := range r.basis {
		if err := x.Axpy(r.vectors.At(i, column), v); err != nil {
			return nil, err
		}
	}
	x.Scale(1 / x.Norm())
	return x, nil
}

// lanczosLargest estimates the k largest eigenvalues of the symmetric operator hvp by the
// largest Ritz values of at most steps Lanczos steps from v, stopping once each of the k
// has converged as lanczosTop's one does (or the Krylov space closed: then there may be
// fewer than k). report(step, values) is called after each step with the largest Ritz
// values so far. A product that is not finite ends it with the values NaN, not
// converged, and no error.
func lanczosLargest(v *experiment.Weights, hvp func(*experiment.Weights) (*experiment.Weights, error), steps, k int, tol float64,
	report func(step int, values []float64)) (*ritzPairs, error) {
	r := &ritzPairs{Values: []float64{math.NaN()}}
	var ritzErr error
	alpha, beta, basis, err := lanczos(v, hvp, steps, func(step int, alpha, beta []float64, residual float64) bool {
		values, vectors, err := tridiagonalEigen(alpha, beta)
		if err != nil {
			ritzErr = err
			return true
		}
		r.Values, r.Steps, r.Converged = r.Values[:0], step, step >= k
		for j := range min(k, step) {
			column := step - 1 - j
			theta := values[column]
			r.Values = append(r.Values, theta)
			r.Converged = r.Converged && residual*math.Abs(vectors.At(step-1, column)) <= tol*math.Abs(theta)
		}
		report(step, r.Values)
		return r.Converged
	})
	switch {
	case errors.Is(err, errNotFinite):
		r.Steps++
		r.Values, r.Converged = slices.Repeat([]float64{math.NaN()}, len(r.Values)), false
		return r, nil
	case err != nil:
		return r, err
	case ritzErr != nil:
		return r, ritzErr
	}
	r.Converged = r.Converged || len(alpha) < steps // the Krylov space closed: exact
	if r.basis = basis; len(basis) > len(alpha) {
		r.basis = basis[:len(alpha)]
	}
	if _, r.vectors, err = tridiagonalEigen(alpha, beta); err != nil {
		return r, err
	}
	return r, nil
}

// hessianDensity estimates the density from vectors Rademacher vectors drawn by draw,
// with steps Lanczos steps each.
func hessianDensity(hvp func(*experiment.Weights) (*experiment.Weights, error), draw func() *experiment.Weights,
	vectors, steps int, progress func(vector, step int)) (*HessianDensity, error) {
	d := &HessianDensity{Vectors: vectors, Steps: steps, Smallest: experiment.Float(math.Inf(1)), Largest: experiment.Float(math.Inf(-1))}
	for i := range vectors {
		alpha, beta, _, err := lanczos(draw(), hvp, steps, func(k int, _, _ []float64, _ float64) bool {
			progress(i+1, k)
			return false
		})
		if err != nil {
			return nil, fmt.Errorf("vector %d: %w", i+1, err)
		}
		nodes, weights, err := gaussQuadrature(alpha, beta)
		if err != nil {
			return nil, err
		}
		d.Nodes = append(d.Nodes, jsonFloats(nodes))
		d.Weights = append(d.Weights, jsonFloats(weights))
		d.Smallest = min(d.Smallest, experiment.Float(nodes[0]))
		d.Largest = max(d.Largest, experiment.Float(nodes[len(nodes)-1]))
	}
	return d, nil
}

// jsonFloats converts xs for a JSON file (non-finite values as null).
func jsonFloats(xs []float64) []experiment.Float {
	out := make([]experiment.Float, len(xs))
	for i, x := range xs {
		out[i] = experiment.Float(x)
	}
	return out
}
