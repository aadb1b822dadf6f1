package analysis

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"

	"github.com/gomlx/compute"

	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/experiment"
)

// SurfaceSettings configures Surface. The zero value of every field is its default.
type SurfaceSettings struct {
	// Range is the interval of the coordinates α (and β) along the directions, both
	// ends included. Default [-1, 1] (the zero value selects it).
	Range [2]float64 `json:"range"`
	// Points is the number of α values of the 1D slice. Default 21.
	Points int `json:"points,omitempty"`
	// Grid is the number of values per axis of the 2D slice (Grid x Grid
	// evaluations). Default 11.
	Grid int `json:"grid,omitempty"`
	// Seed fixes the random directions (with DirectionsHessian, Lanczos' start vector).
	// 0 is a valid seed.
	Seed uint64 `json:"seed"`
	// Directions is DirectionsRandom (default) or DirectionsHessian.
	Directions string `json:"directions,omitempty"`
	// DirectionEigenvalues and DirectionsFrom are recorded, not read: with
	// DirectionsHessian, the eigenvalues of the two directions and how they were found.
	DirectionEigenvalues []experiment.Float `json:"direction_eigenvalues,omitempty"`
	DirectionsFrom       string             `json:"directions_from,omitempty"`
	// EvalBatchSize is the batch size of evaluation passes. Default 1000.
	EvalBatchSize int `json:"eval_batch_size,omitempty"`
}

// Surface directions.
const (
	// DirectionsRandom slices along two random filter-normalized directions
	// (FilterNormalizedDirection; Li et al. 2018), each as long as the weights.
	DirectionsRandom = "random"
	// DirectionsHessian slices along the unit eigenvectors of the two largest Hessian
	// eigenvalues of the clean training loss at the point: the directions in which the
	// loss curves up fastest (as PyHessian plots them). Along them, near the point, the
	// loss is L + λ·α²/2.
	DirectionsHessian = "hessian"
)

// maxDirectionLanczosSteps bounds the Lanczos steps that find DirectionsHessian's two
// eigenvectors; it stops earlier once both Ritz pairs have converged.
const maxDirectionLanczosSteps = 60

// WithDefaults returns s with every zero field replaced by its default.
func (s SurfaceSettings) WithDefaults() SurfaceSettings {
	if s.Directions == "" {
		s.Directions = DirectionsRandom
	}
	if s.Range == [2]float64{} {
		s.Range = [2]float64{-1, 1}
	}
	if s.Points == 0 {
		s.Points = 21
	}
	if s.Grid == 0 {
		s.Grid = 11
	}
	if s.EvalBatchSize == 0 {
		s.EvalBatchSize = defaultEvalBatch
	}
	return s
}

// Validate reports invalid settings.
func (s SurfaceSettings) Validate() error {
	s = s.WithDefaults()
	if s.Directions != DirectionsRandom && s.Directions != DirectionsHessian {
		return fmt.Errorf("surface: unknown directions %q: valid are %s, %s", s.Directions, DirectionsHessian, DirectionsRandom)
	}
	if err := checkCounts("surface", count{"evaluation batch size", s.EvalBatchSize}); err != nil {
		return err
	}
	if s.Points < 2 || s.Grid < 2 {
		return fmt.Errorf("surface: %d points and a grid of %d: want at least 2 of each", s.Points, s.Grid)
	}
	if s.Points > MaxProbePoints {
		return fmt.Errorf("surface: %d points: at most %d", s.Points, MaxProbePoints)
	}
	if s.Grid > MaxSurfaceGrid {
		return fmt.Errorf("surface: grid %d: at most %d per axis (%d evaluations)", s.Grid, MaxSurfaceGrid, MaxSurfaceGrid*MaxSurfaceGrid)
	}
	return checkProbeRange("surface", s.Range)
}

// SurfacePoint is one line of surface1d.jsonl: the point w + α·d1.
type SurfacePoint struct {
	Alpha float64 `json:"alpha"`
	PointEval
}

// Surface2D is the content of surface2d.json: losses and accuracies at w + α·d1 + β·d2,
// row i for Alphas[i], column j for Betas[j].
type Surface2D struct {
	Alphas    []float64            `json:"alphas"`
	Betas     []float64            `json:"betas"`
	TrainLoss [][]experiment.Float `json:"train_loss"`
	TestLoss  [][]experiment.Float `json:"test_loss"`
	TrainAcc  [][]experiment.Float `json:"train_acc"`
	TestAcc   [][]experiment.Float `json:"test_acc"`
}

// SurfaceResult holds both slices of Surface, and its settings as probe.json records
// them (with DirectionsHessian, the directions' eigenvalues).
type SurfaceResult struct {
	Line     []SurfacePoint
	Grid     Surface2D
	Settings SurfaceSettings
}

// FilterNormalizedDirection returns a random direction for w, filter-normalized as in
// Li et al. 2018 ("Visualizing the loss landscape of neural nets"): a Gaussian
// direction, each filter of which is rescaled to the norm of the corresponding filter
// of w. A filter is a slice along the first axis of a trainable tensor of rank 2 or
// more: an output unit of a dense layer (weights [out, in]) or an output channel of a
// convolution (kernel [cout, kh, kw, cin]). Biases, batch-norm parameters (tensors of
// rank 0 or 1) and non-trainable state get a zero direction: they are left out.
func FilterNormalizedDirection(w *experiment.Weights, rng *rand.Rand) *experiment.Weights {
	d := w.Clone()
	for i := range d.Tensors {
		t := &d.Tensors[i]
		if !t.Trainable || len(t.Shape) < 2 || t.Shape[0] == 0 {
			clear(t.Data)
			continue
		}
		size := len(t.Data) / t.Shape[0]
		for f := range t.Shape[0] {
			dir := t.Data[f*size : (f+1)*size]
			src := w.Tensors[i].Data[f*size : (f+1)*size]
			var normD, normW float64
			g := make([]float64, size)
			for j := range g {
				g[j] = rng.NormFloat64()
				normD += g[j] * g[j]
				normW += float64(src[j]) * float64(src[j])
			}
			scale := 0.0
			if normD > 0 {
				scale = math.Sqrt(normW / normD)
			}
			for j := range dir {
				dir[j] = float32(g[j] * scale)
			}
		}
	}
	return d
}

// Surface evaluates loss and accuracy (clean training split and test split of ds) on a
// 1D slice w + α·d1 and a 2D slice w + α·d1 + β·d2 around point w, along two random
// filter-normalized directions d1, d2 (FilterNormalizedDirection, drawn from s.Seed; the
// 1D slice uses d1), or with DirectionsHessian along the top two Hessian eigenvectors of
// the clean training loss (exact Hessian-vector products; probe.json records their
// eigenvalues). Batch-norm running statistics stay those of the point.
//
// backend nil means the Go backend. If outDir is not empty it is created (it must not
// hold files) and receives probe.json, surface1d.jsonl (rewritten after every point) and
// surface2d.json (written when the grid is complete). Progress lines go to progress
// (nil: none).
func Surface(ctx context.Context, backend compute.Backend, point Point, ds *datasets.Dataset, s SurfaceSettings, outDir string, progress io.Writer) (*SurfaceResult, error) {
	backend, release, err := probeBackend(backend)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	s = s.WithDefaults()
	lp, out, err := startPointProbe("surface", backend, point, ds, s, outDir)
	if err != nil {
		return nil, err
	}
	progress = orDiscard(progress)
	var d1, d2 *experiment.Weights
	switch s.Directions {
	case DirectionsHessian:
		if d1, d2, err = hessianDirections(ctx, lp, ds.Train, &s, progress); err != nil {
			return nil, err
		}
		out.info.Settings = s // probe.json records the directions' eigenvalues
		if err := out.writeJSON(ProbeInfoFile, out.info); err != nil {
			return nil, err
		}
	default:
		rng := rand.New(rand.NewPCG(s.Seed, 0x5eaf))
		d1 = FilterNormalizedDirection(lp.start, rng)
		d2 = FilterNormalizedDirection(lp.start, rng)
	}
	at := func(alpha, beta float64) (PointEval, error) {
		if err := ctx.Err(); err != nil {
			return PointEval{}, err
		}
		w := lp.start.Clone()
		if err := w.Axpy(alpha, d1); err != nil {
			return PointEval{}, err
		}
		if err := w.Axpy(beta, d2); err != nil {
			return PointEval{}, err
		}
		return evalWeights(lp.net, w, ds, s.EvalBatchSize)
	}
	res := &SurfaceResult{Settings: s}
	for _, alpha := range linspace(s.Range[0], s.Range[1], s.Points) {
		e, err := at(alpha, 0)
		if err != nil {
			return res, err
		}
		res.Line = append(res.Line, SurfacePoint{Alpha: alpha, PointEval: e})
		fmt.Fprintf(progress, "surface 1d α=%.3f: train_loss %.4f test_loss %.4f\n", alpha, float64(e.TrainLoss), float64(e.TestLoss))
		if err := writeProbeLines(out, Surface1DFile, res.Line); err != nil {
			return res, err
		}
	}
	g := &res.Grid
	g.Alphas = linspace(s.Range[0], s.Range[1], s.Grid)
	g.Betas = linspace(s.Range[0], s.Range[1], s.Grid)
	for i, alpha := range g.Alphas {
		row := make([]PointEval, len(g.Betas))
		for j, beta := range g.Betas {
			if row[j], err = at(alpha, beta); err != nil {
				return res, err
			}
		}
		g.TrainLoss = append(g.TrainLoss, column2D(row, func(e PointEval) experiment.Float { return e.TrainLoss }))
		g.TestLoss = append(g.TestLoss, column2D(row, func(e PointEval) experiment.Float { return e.TestLoss }))
		g.TrainAcc = append(g.TrainAcc, column2D(row, func(e PointEval) experiment.Float { return e.TrainAcc }))
		g.TestAcc = append(g.TestAcc, column2D(row, func(e PointEval) experiment.Float { return e.TestAcc }))
		fmt.Fprintf(progress, "surface 2d row %d/%d (α=%.3f) done\n", i+1, len(g.Alphas), alpha)
	}
	if err := out.writeJSON(Surface2DFile, g); err != nil {
		return res, err
	}
	return res, out.finish()
}

// hessianDirections returns the unit eigenvectors of the two largest eigenvalues of the
// Hessian of the clean loss over split at lp's point: the Ritz vectors of the two largest
// Ritz values of Lanczos steps from s.Seed's start vector, stopped when both have
// converged (each Ritz residual within the sharpness probe's tolerance of its value) or
// after maxDirectionLanczosSteps. It records the eigenvalues and how they were found in s.
func hessianDirections(ctx context.Context, lp *loadedPoint, split *datasets.Split, s *SurfaceSettings, progress io.Writer) (d1, d2 *experiment.Weights, err error) {
	tol := SharpnessSettings{}.WithDefaults().Tolerance
	hvp, err := exactHVPAt(ctx, lp.net, lp.start, split, s.EvalBatchSize)
	if err != nil {
		return nil, nil, err
	}
	top, err := lanczosLargest(startVector(lp.start, sharpnessRand(s.Seed)), hvp, maxDirectionLanczosSteps, 2, tol,
		func(k int, values []float64) {
			fmt.Fprintf(progress, "surface: Hessian directions: Lanczos step %d/%d: top eigenvalues %.6g\n", k, maxDirectionLanczosSteps, values)
		})
	if err != nil {
		return nil, nil, fmt.Errorf("surface: Hessian directions: %w", err)
	}
	if len(top.Values) < 2 || !finiteValue(top.Values[0]) || !finiteValue(top.Values[1]) {
		return nil, nil, fmt.Errorf("surface: Hessian directions: after %d Lanczos steps the largest eigenvalues are %v: no two directions", top.Steps, top.Values)
	}
	if d1, err = top.vector(0); err != nil {
		return nil, nil, err
	}
	if d2, err = top.vector(1); err != nil {
		return nil, nil, err
	}
	note := "converged"
	if !top.Converged {
		note = "NOT converged: the directions approximate the eigenvectors"
	}
	s.DirectionEigenvalues = jsonFloats(top.Values[:2])
	s.DirectionsFrom = fmt.Sprintf("the Ritz vectors of the 2 largest Ritz values of %d Lanczos steps over %d examples (%s)", top.Steps, split.Len(), note)
	fmt.Fprintf(progress, "surface: directions along Hessian eigenvalues %.6g and %.6g: %s\n", top.Values[0], top.Values[1], s.DirectionsFrom)
	return d1, d2, nil
}

func column2D(row []PointEval, field func(PointEval) experiment.Float) []experiment.Float {
	out := make([]experiment.Float, len(row))
	for j, e := range row {
		out[j] = field(e)
	}
	return out
}
