package analysis

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/extremepoints/esp/experiment"
)

// diagonalOperator is H = diag(values) acting on one-tensor weights.
func diagonalOperator(values []float64) func(*experiment.Weights) (*experiment.Weights, error) {
	return func(v *experiment.Weights) (*experiment.Weights, error) {
		out := v.Clone()
		for i, x := range v.Tensors[0].Data {
			out.Tensors[0].Data[i] = float32(values[i] * float64(x))
		}
		return out, nil
	}
}

func vectorWeights(data []float64) *experiment.Weights {
	t := experiment.Tensor{Name: "x", Shape: []int{len(data)}, Data: make([]float32, len(data)), Trainable: true}
	for i, x := range data {
		t.Data[i] = float32(x)
	}
	return &experiment.Weights{Tensors: []experiment.Tensor{t}}
}

// TestLanczosQuadrature checks stochastic Lanczos quadrature on diagonal operators with
// known spectra: with as many steps as eigenvalues the nodes are the eigenvalues and the
// weights the start vector's squared components; with fewer, the quadrature still
// integrates the moments zᵀHᵖz of degree below 2·steps exactly; with few distinct
// eigenvalues the iteration stops when the Krylov space closes, its nodes exactly those.
func TestLanczosQuadrature(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 5))
	spectrum := make([]float64, 24)
	for i := range spectrum {
		spectrum[i] = float64(i) - 3.5 + 0.1*rng.Float64() // distinct, some negative
	}
	z := make([]float64, len(spectrum))
	for i := range z {
		z[i] = rng.NormFloat64()
	}
	var zz float64
	for _, x := range z {
		zz += x * x
	}
	start := vectorWeights(z)
	moment := func(p int) float64 { // zᵀHᵖz / zᵀz
		var sum float64
		for i, x := range z {
			sum += x * x * math.Pow(spectrum[i], float64(p))
		}
		return sum / zz
	}
	tests := []struct {
		name      string
		values    []float64
		steps     int
		wantNodes []float64 // nil: not compared
		moments   int       // moments checked: 0 .. moments
	}{
		{"full", spectrum, len(spectrum), spectrum, 2},
		{"6 steps", spectrum, 6, nil, 11},
		{"3 distinct values", []float64{-1, 2, 2, 5, -1, 5, 2, 2, 5, -1, 2, 5, 5, -1, 2, 2, 2, 5, -1, -1, 2, 5, 5, 2}, 10, []float64{-1, 2, 5}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			steps := 0
			alpha, beta, _, err := lanczos(start, diagonalOperator(tc.values), tc.steps, func(k int, _, _ []float64, _ float64) bool {
				steps = k
				return false
			})
			if err != nil {
				t.Fatal(err)
			}
			nodes, weights, err := gaussQuadrature(alpha, beta)
			if err != nil {
				t.Fatal(err)
			}
			if steps != len(alpha) || len(beta) != len(alpha)-1 {
				t.Fatalf("%d products, %d alphas, %d betas", steps, len(alpha), len(beta))
			}
			if tc.wantNodes != nil {
				want := slices.Compact(slices.Sorted(slices.Values(tc.wantNodes)))
				if len(nodes) != len(want) {
					t.Fatalf("%d nodes %v, want %v", len(nodes), nodes, want)
				}
				for i := range nodes {
					if math.Abs(nodes[i]-want[i]) > 1e-4*math.Max(1, math.Abs(want[i])) {
						t.Errorf("node %d: %v, want %v", i, nodes[i], want[i])
					}
				}
			}
			if tc.name == "full" {
				for i, w := range weights { // spectrum is ascending: node i is eigenvalue i
					if want := z[i] * z[i] / zz; math.Abs(w-want) > 1e-4 {
						t.Errorf("weight %d: %v, want %v", i, w, want)
					}
				}
			}
			for p := 0; p <= tc.moments; p++ {
				var got float64
				for k := range nodes {
					got += weights[k] * math.Pow(nodes[k], float64(p))
				}
				if want := moment(p); math.Abs(got-want) > 1e-4*math.Max(1, math.Abs(want)) {
					t.Errorf("moment %d: quadrature %v, zᵀHᵖz/zᵀz %v", p, got, want)
				}
			}
		})
	}
}

// TestHessianDensityCurve: the smoothed density integrates to 1 and holds the share of
// the eigenvalues of a diagonal operator that lie in a well-separated group; its figure
// draws.
func TestHessianDensityCurve(t *testing.T) {
	values := make([]float64, 40)
	for i := range values {
		values[i] = 0.01 * float64(i%4)
		if i%5 == 0 {
			values[i] = 10
		}
	}
	rng := rand.New(rand.NewPCG(1, 1))
	draw := func() *experiment.Weights {
		z := make([]float64, len(values))
		for i := range z {
			z[i] = float64(2*rng.IntN(2) - 1)
		}
		return vectorWeights(z)
	}
	d, err := hessianDensity(diagonalOperator(values), draw, 4, 20, func(int, int) {})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(float64(d.Largest)-10) > 1e-4 || math.Abs(float64(d.Smallest)) > 1e-4 || d.Vectors != 4 || len(d.Nodes) != 4 {
		t.Errorf("density %+v", d)
	}
	lambda := make([]float64, 2001)
	for i := range lambda {
		lambda[i] = -2 + 14*float64(i)/2000
	}
	density := d.At(lambda, 0.1)
	var integral, nearTen float64
	for i := 1; i < len(lambda); i++ {
		area := (density[i] + density[i-1]) / 2 * (lambda[i] - lambda[i-1])
		integral += area
		if lambda[i] > 9 {
			nearTen += area
		}
	}
	if math.Abs(integral-1) > 1e-3 || math.Abs(nearTen-0.2) > 1e-3 { // 8 of the 40 eigenvalues are 10: weight 8/40 for ±1 vectors
		t.Errorf("density integrates to %v, %v of it above 9 (want 1, 0.2)", integral, nearTen)
	}
	f, err := DensityFigure("density", "eigenvalues", DensitySeries{Label: "diagonal", Density: d})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.PNG(); err != nil {
		t.Error(err)
	}
	if _, err := DensityFigure("none", "eigenvalues", DensitySeries{Label: "empty"}); err == nil {
		t.Error("a series without a density drew")
	}
}

// TestDamagedDensity: a density read back damaged (nodes and weights of other lengths,
// non-finite or negative values, no nodes, extremes that are not its nodes') is refused
// by DensityFigure, naming the series, instead of panicking or drawing garbage; the
// report leaves it out (densityOf) and draws the sound ones, its range from their nodes.
func TestDamagedDensity(t *testing.T) {
	good := func() *HessianDensity {
		return &HessianDensity{Vectors: 1, Steps: 3, Nodes: [][]experiment.Float{{-1, 0.5, 4}}, Weights: [][]experiment.Float{{0.2, 0.7, 0.1}},
			Smallest: -1, Largest: 4}
	}
	nan := experiment.Float(math.NaN())
	damaged := map[string]func(d *HessianDensity){
		"a weight short":           func(d *HessianDensity) { d.Weights[0] = d.Weights[0][:2] },
		"a vector's weights short": func(d *HessianDensity) { d.Weights = nil },
		"no nodes":                 func(d *HessianDensity) { d.Nodes, d.Weights = [][]experiment.Float{{}}, [][]experiment.Float{{}} },
		"no vectors":               func(d *HessianDensity) { d.Nodes, d.Weights = nil, nil },
		"a NaN node":               func(d *HessianDensity) { d.Nodes[0][1] = nan },
		"a NaN weight":             func(d *HessianDensity) { d.Weights[0][1] = nan },
		"an infinite node":         func(d *HessianDensity) { d.Nodes[0][2] = experiment.Float(math.Inf(1)) },
		"a negative weight":        func(d *HessianDensity) { d.Weights[0][0] = -0.2 },
	}
	for name, damage := range damaged {
		d := good()
		damage(d)
		var f *Figure
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: DensityFigure panicked: %v", name, r)
				}
			}()
			f, err = DensityFigure("d", "density", DensitySeries{Label: "sound", Density: good()}, DensitySeries{Label: "damaged", Density: d})
		}()
		if err == nil || !strings.Contains(err.Error(), `"damaged"`) {
			t.Errorf("%s: figure %v, error %v; want one naming the series", name, f, err)
		}
		data, _ := json.Marshal(map[string]any{"density": d})
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		if got := densityOf(m); got != nil {
			t.Errorf("%s: the report took the density %+v", name, got)
		}
	}
	// Extremes that are not the nodes' (null, or far out): the report's come from the nodes.
	for _, js := range []string{`{"density":{"vectors":1,"steps":3,"nodes":[[-1,0.5,4]],"weights":[[0.2,0.7,0.1]],"smallest":null,"largest":null}}`,
		`{"density":{"vectors":1,"steps":3,"nodes":[[-1,0.5,4]],"weights":[[0.2,0.7,0.1]],"smallest":-1e300,"largest":1e300}}`} {
		var m map[string]any
		if err := json.Unmarshal([]byte(js), &m); err != nil {
			t.Fatal(err)
		}
		d := densityOf(m)
		if d == nil || d.Smallest != -1 || d.Largest != 4 {
			t.Errorf("%s: density %+v, want extremes -1 and 4", js, d)
		}
	}
	d := good()
	d.Smallest, d.Largest = -1e300, 1e300
	f, err := DensityFigure("d", "density", DensitySeries{Label: "far extremes", Density: d})
	if err != nil {
		t.Fatal(err)
	}
	if x := f.plot.X; x.Min < -2 || x.Max > 5 {
		t.Errorf("drawn from %v to %v, the nodes span -1 to 4", x.Min, x.Max)
	}
}

// TestLanczosTop checks the top-eigenvalue solver on diagonal operators: it finds the
// largest eigenvalue (not the largest in magnitude), stops once converged or when the
// Krylov space closes, and says when it has not converged. Where the top of the spectrum
// is crowded (200 eigenvalues spaced 0.005 apart below 1) 20 steps get within 0.2%,
// where 20 power iterations from the same start are still 2% short.
func TestLanczosTop(t *testing.T) {
	crowded := make([]float64, 200)
	for i := range crowded {
		crowded[i] = 1 - 0.005*float64(i)
	}
	ones := func(n int) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = 1
		}
		return out
	}
	tests := []struct {
		name      string
		values    []float64
		steps     int
		want      float64
		converged bool
		most      int // the most products it may take
	}{
		{"positive", []float64{3, 1, 0.5, 0.2}, 20, 3, true, 4},
		{"negative of largest magnitude", []float64{-3, 1, 0.5, 0.2}, 20, 1, true, 4},
		{"plus and minus 2", []float64{2, -2}, 20, 2, true, 2},
		{"crowded", crowded, 60, 1, true, 60},
		{"crowded, too few steps", crowded, 20, 1, false, 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hvp := diagonalOperator(tc.values)
			lambda, k, converged, err := lanczosTop(vectorWeights(ones(len(tc.values))), hvp, tc.steps, 1e-3, func(int, float64) {})
			if err != nil {
				t.Fatal(err)
			}
			if converged != tc.converged || k > tc.most || converged && math.Abs(lambda-tc.want) > 1e-3*math.Abs(tc.want) {
				t.Errorf("eigenvalue %v after %d products, converged %v; want %v, converged %v, at most %d products", lambda, k, converged, tc.want, tc.converged, tc.most)
			}
		})
	}
	start := vectorWeights(ones(len(crowded)))
	start.Scale(1 / start.Norm())
	lanczos, _, _, err := lanczosTop(start, diagonalOperator(crowded), 20, 1e-3, func(int, float64) {})
	if err != nil {
		t.Fatal(err)
	}
	power, _, powerConverged, err := powerIteration(start, diagonalOperator(crowded), 20, 1e-3, func(int, float64) {})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("crowded spectrum, 20 products: Lanczos %v, power iteration %v (converged by its tests: %v)", lanczos, power, powerConverged)
	if lanczos < 0.998 || power > 0.98 {
		t.Errorf("crowded spectrum, 20 products: Lanczos %v, power iteration %v; want Lanczos within 0.2%% of 1, the power iteration 2%% or more short", lanczos, power)
	}
}

// TestLanczosLargest finds the k largest eigenvalues of diagonal operators and their
// eigenvectors (the unit basis vectors), and stops where the Krylov space closes with
// fewer distinct eigenvalues than asked for.
func TestLanczosLargest(t *testing.T) {
	spread := []float64{5, 4, 3.5, 1, 0.5, 0.25, 0.1, -0.5, -2}
	tests := []struct {
		name      string
		values    []float64
		k, steps  int
		want      []float64
		converged bool
	}{
		{"top 3", spread, 3, 20, []float64{5, 4, 3.5}, true},
		{"top 1", spread, 1, 20, []float64{5}, true},
		{"two distinct values", []float64{2, 2, 1, 1}, 3, 20, []float64{2, 1}, true},
		{"too few steps", spread, 3, 3, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := make([]float64, len(tc.values))
			for i := range start {
				start[i] = 1 + 0.1*float64(i)
			}
			top, err := lanczosLargest(vectorWeights(start), diagonalOperator(tc.values), tc.steps, tc.k, 1e-4, func(int, []float64) {})
			if err != nil {
				t.Fatal(err)
			}
			if top.Converged != tc.converged {
				t.Fatalf("converged %v after %d steps, want %v (values %v)", top.Converged, top.Steps, tc.converged, top.Values)
			}
			if !tc.converged {
				return
			}
			if len(top.Values) != len(tc.want) {
				t.Fatalf("values %v, want %v", top.Values, tc.want)
			}
			for j, want := range tc.want {
				if math.Abs(top.Values[j]-want) > 1e-3*math.Abs(want) {
					t.Errorf("value %d: %v, want %v", j, top.Values[j], want)
				}
				if tc.name == "two distinct values" {
					continue // eigenvalues of multiplicity 2: any vector of their plane
				}
				x, err := top.vector(j)
				if err != nil {
					t.Fatal(err)
				}
				index := slices.Index(tc.values, want)
				if c := math.Abs(float64(x.Tensors[0].Data[index])); c < 0.999 {
					t.Errorf("vector %d: component %v along eigenvector %d, want ±1 (%v)", j, c, index, x.Tensors[0].Data)
				}
			}
		})
	}
}
