package analysis

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/gomlx/compute"

	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/experiment"
)

// Full-batch descent methods.
const (
	// MethodGD is plain full-batch gradient descent: w ← w − lr·∇L(w).
	MethodGD = "gd"
	// MethodAdam is Adam with the whole clean training split as its batch (the authors'
	// "GD from the extreme point").
	MethodAdam = "adam"
	// MethodBoth runs Adam, then GD, each from the point.
	MethodBoth = "both"
)

// FullBatchSettings configures FullBatch. The zero value of every field is its default.
type FullBatchSettings struct {
	// Method is "adam" (default, the authors'), "gd" or "both".
	Method string `json:"method,omitempty"`
	// Steps is the number of descent steps per method. Default 300 (the authors').
	Steps int `json:"steps,omitempty"`
	// AdamLearningRate defaults to 1e-3; Adam's other parameters are PyTorch's defaults
	// (betas 0.9, 0.999, eps 1e-8).
	AdamLearningRate float64 `json:"adam_learning_rate,omitempty"`
	// GDLearningRate is plain GD's step size. Default 0.1. Where GDAutoLearningRate
	// chose it, FullBatch records the chosen one here in probe.json (with an adaptive
	// step, the first; fullbatch.jsonl's lines give the others).
	GDLearningRate float64 `json:"gd_learning_rate,omitempty"`
	// GDAutoLearningRate takes plain GD's step from the curvature at the start point
	// instead: 1/λ_max, half the 2/λ_max above which GD diverges along the top
	// eigenvector. λ_max is the largest Hessian eigenvalue of the same clean loss, as
	// Sharpness measures it by default (exact Hessian-vector products, at most 20 Lanczos
	// steps). It overrides GDLearningRate.
	GDAutoLearningRate bool `json:"gd_auto_learning_rate,omitempty"`
	// GDAdaptiveLearningRate lets GD's automatic step follow the curvature along the
	// descent: wherever SharpnessEvery measures λ_max, the step becomes 1/λ_max. From an
	// extreme point λ_max falls by up to 10x within tens of steps, and a step fixed at the
	// start leaves GD creeping. It implies GDAutoLearningRate and needs SharpnessEvery.
	GDAdaptiveLearningRate bool `json:"gd_adaptive_learning_rate,omitempty"`
	// GDTopEigenvalue and GDLearningRateFrom are recorded, not read: the λ_max the
	// automatic step came from, and a line on how it was measured.
	GDTopEigenvalue    experiment.Float `json:"gd_top_eigenvalue,omitempty"`
	GDLearningRateFrom string           `json:"gd_learning_rate_from,omitempty"`
	// EvalEvery is how often (in steps) train_acc and test_acc are measured: at step 0,
	// every EvalEvery steps, and at the last step; null in between. Default 10.
	// Loss and gradient norm are logged at every step (the gradient gives them).
	EvalEvery int `json:"eval_every,omitempty"`
	// BatchSize is the size of the chunks the full-batch gradient is accumulated over
	// (it does not change the result). Default 1000.
	BatchSize int `json:"batch_size,omitempty"`
	// SharpnessEvery, where not 0, measures λ_max of the clean loss along each descent (as
	// GDAutoLearningRate does at the start point) at step 0, every SharpnessEvery steps and
	// at the last step: where GD's lr·λ_max passes 2, it has left the region its step is
	// stable in. Each measurement costs up to 20 Hessian-vector products.
	SharpnessEvery int `json:"sharpness_every,omitempty"`
}

// WithDefaults returns s with every zero field replaced by its default.
func (s FullBatchSettings) WithDefaults() FullBatchSettings {
	if s.Method == "" {
		s.Method = MethodAdam
	}
	if s.Steps == 0 {
		s.Steps = 300
	}
	if s.AdamLearningRate == 0 {
		s.AdamLearningRate = 1e-3
	}
	if s.GDLearningRate == 0 {
		s.GDLearningRate = 0.1
	}
	if s.EvalEvery == 0 {
		s.EvalEvery = 10
	}
	if s.BatchSize == 0 {
		s.BatchSize = defaultEvalBatch
	}
	s.GDAutoLearningRate = s.GDAutoLearningRate || s.GDAdaptiveLearningRate
	return s
}

// Validate reports invalid settings, naming the valid choices.
func (s FullBatchSettings) Validate() error {
	s = s.WithDefaults()
	switch s.Method {
	case MethodGD, MethodAdam, MethodBoth:
	default:
		return fmt.Errorf("fullbatch: unknown method %q, valid: %s, %s, %s", s.Method, MethodAdam, MethodGD, MethodBoth)
	}
	if err := checkCounts("fullbatch", count{"steps", s.Steps}, count{"eval-every", s.EvalEvery},
		count{"sharpness-every", s.SharpnessEvery}, count{"batch size", s.BatchSize}); err != nil {
		return err
	}
	if s.Steps > MaxProbeSteps {
		return fmt.Errorf("fullbatch: %d steps: at most %d per method", s.Steps, MaxProbeSteps)
	}
	if s.GDAdaptiveLearningRate && s.SharpnessEvery == 0 {
		return fmt.Errorf("fullbatch: an adaptive GD step is 1/λ_max wherever λ_max is measured along the descent: give --sharpness-every N (SharpnessEvery) too")
	}
	for _, lr := range []float64{s.AdamLearningRate, s.GDLearningRate} {
		if !finiteValue(lr) || lr < 0 {
			return fmt.Errorf("fullbatch: invalid learning rate %v: want a finite number > 0", lr)
		}
	}
	return nil
}

func (s FullBatchSettings) methods() []string {
	if s.Method == MethodBoth {
		return []string{MethodAdam, MethodGD}
	}
	return []string{s.Method}
}

// FullBatchStep is one line of fullbatch.jsonl: the state after Step full-batch steps of
// Method (step 0 is the start point).
type FullBatchStep struct {
	Method string `json:"method"`
	Step   int    `json:"step"`
	// Loss is the mean cross-entropy on the clean training split (inference mode).
	Loss experiment.Float `json:"loss"`
	// TrainAcc and TestAcc are null at steps where they were not measured (see EvalEvery).
	TrainAcc experiment.Float `json:"train_acc"`
	TestAcc  experiment.Float `json:"test_acc"`
	TestLoss experiment.Float `json:"test_loss"`
	// GradNorm is the global L2 norm of the full-batch gradient of Loss.
	GradNorm experiment.Float `json:"grad_norm"`
	// LearningRate is the method's step size from this step on (for Adam, its learning
	// rate); an adaptive GD step changes where TopEigenvalue was measured.
	LearningRate float64 `json:"lr,omitempty"`
	// TopEigenvalue is λ_max of the clean loss at the step, where SharpnessEvery measured
	// it (absent elsewhere); a lower bound where its Lanczos steps did not converge (the
	// progress line says so).
	TopEigenvalue experiment.Float `json:"top_eigenvalue,omitempty"`
	// DistFromStart is the global L2 distance from the start point.
	DistFromStart experiment.Float `json:"dist_from_start"`
	Seconds       float64          `json:"seconds"`
}

// FullBatch runs full-batch descent on the clean loss (the training split of ds, true
// labels) from point: Adam with the whole split as its batch (the authors' variant),
// plain GD, or both, each from the point (claim C6: from an extreme point, test accuracy
// stays low while the gradient norm goes to ~0). The gradient is computed in inference
// mode (batch normalization uses its running statistics, which stay fixed).
//
// backend nil means the Go backend. If outDir is not empty it is created (it must not
// hold files) and receives probe.json and fullbatch.jsonl, rewritten at every
// evaluation. Progress lines go to progress (nil: none). A non-finite loss ends that
// method's descent (its last line has a null loss); it is not an error. With
// GDAutoLearningRate, a largest eigenvalue that is not positive or not finite is: no
// step follows from it.
func FullBatch(ctx context.Context, backend compute.Backend, point Point, ds *datasets.Dataset, s FullBatchSettings, outDir string, progress io.Writer) ([]FullBatchStep, error) {
	backend, release, err := probeBackend(backend)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	s = s.WithDefaults()
	lp, out, err := startPointProbe("fullbatch", backend, point, ds, s, outDir)
	if err != nil {
		return nil, err
	}
	progress = orDiscard(progress)
	var startCurvature float64 // λ_max at the point, measured once for GD's step and every method's step 0
	switch {
	case s.GDAutoLearningRate && slices.Contains(s.methods(), MethodGD):
		if err := chooseGDStep(ctx, lp, ds.Train, &s, progress); err != nil {
			return nil, err
		}
		startCurvature = float64(s.GDTopEigenvalue)
		out.info.Settings = s // probe.json records the step taken
		if err := out.writeJSON(ProbeInfoFile, out.info); err != nil {
			return nil, err
		}
	case s.SharpnessEvery > 0:
		if startCurvature, err = curvatureAlong(ctx, lp.net, lp.start, ds.Train, s.BatchSize, "step 0", 0, progress); err != nil {
			return nil, err
		}
	}
	var lines []FullBatchStep
	for _, method := range s.methods() {
		if lines, err = fullBatchDescent(ctx, lp, ds, s, method, startCurvature, lines, out, progress); err != nil {
			return lines, err
		}
	}
	if err := writeProbeLines(out, FullBatchFile, lines); err != nil {
		return lines, err
	}
	return lines, out.finish()
}

// fullBatchDescent runs one method from lp's point, appending its lines. startCurvature
// is λ_max at the point, where SharpnessEvery or GD's step needed it.
func fullBatchDescent(ctx context.Context, lp *loadedPoint, ds *datasets.Dataset, s FullBatchSettings, method string,
	startCurvature float64, lines []FullBatchStep, out probeOutput, progress io.Writer) ([]FullBatchStep, error) {
	net := lp.net
	w := lp.start.Clone()
	if err := net.SetWeights(w); err != nil {
		return lines, err
	}
	adam := newHostAdam(w, s.AdamLearningRate)
	rate := s.AdamLearningRate
	if method == MethodGD {
		rate = s.GDLearningRate
	}
	start := time.Now()
	nan := experiment.Float(math.NaN())
	for step := 0; step <= s.Steps; step++ {
		if err := ctx.Err(); err != nil {
			return lines, err
		}
		grad, loss, err := net.Gradient(ds.Train, s.BatchSize, nil)
		if err != nil {
			return lines, err
		}
		dist, _, err := experiment.Distance(w, lp.start)
		if err != nil {
			return lines, err
		}
		line := FullBatchStep{Method: method, Step: step, Loss: experiment.Float(loss), TrainAcc: nan, TestAcc: nan, TestLoss: nan,
			GradNorm: experiment.Float(grad.Norm()), DistFromStart: experiment.Float(dist), LearningRate: rate}
		diverged := !finiteValue(loss) || !finiteValue(grad.Norm())
		if s.SharpnessEvery > 0 && !diverged && (step%s.SharpnessEvery == 0 || step == s.Steps) {
			lambda := startCurvature
			if step > 0 {
				gdRate := 0.0 // lr·λ_max is GD's stability measure only
				if method == MethodGD {
					gdRate = rate
				}
				label := fmt.Sprintf("%s step %d/%d", method, step, s.Steps)
				if lambda, err = curvatureAlong(ctx, net, w, ds.Train, s.BatchSize, label, gdRate, progress); err != nil {
					return lines, err
				}
				if method == MethodGD && s.GDAdaptiveLearningRate && step < s.Steps {
					rate = adaptGDStep(rate, lambda, label, progress)
					line.LearningRate = rate
				}
			}
			line.TopEigenvalue = experiment.Float(lambda)
		}
		if step == 0 || step%s.EvalEvery == 0 || step == s.Steps || diverged {
			e, err := evalPoint(net, ds, s.BatchSize)
			if err != nil {
				return lines, err
			}
			line.TrainAcc, line.TestAcc, line.TestLoss = e.TrainAcc, e.TestAcc, e.TestLoss
			line.Seconds = time.Since(start).Seconds()
			lines = append(lines, line)
			fmt.Fprintf(progress, "fullbatch %s step %d/%d: loss %.5f grad_norm %.3g train_acc %.4f test_acc %.4f (%.1fs)\n",
				method, step, s.Steps, loss, grad.Norm(), float64(e.TrainAcc), float64(e.TestAcc), line.Seconds)
			if err := writeProbeLines(out, FullBatchFile, lines); err != nil {
				return lines, err
			}
		} else {
			line.Seconds = time.Since(start).Seconds()
			lines = append(lines, line)
		}
		if diverged {
			fmt.Fprintf(progress, "fullbatch %s: the loss is not finite at step %d: stopping this method\n", method, step)
			return lines, nil
		}
		if step == s.Steps {
			break
		}
		switch method {
		case MethodGD:
			err = w.Axpy(-rate, grad)
		case MethodAdam:
			err = adam.step(w, grad)
		}
		if err != nil {
			return lines, err
		}
		if err := net.SetWeights(w); err != nil {
			return lines, err
		}
	}
	return lines, nil
}

// largestEigenvalue measures λ_max of the clean loss over split at w as Sharpness does by
// default (Lanczos, at most 20 steps, seed 0), leaving net holding w; report(k, estimate)
// is called after each step.
func largestEigenvalue(ctx context.Context, net *experiment.Net, w *experiment.Weights, split *datasets.Split, batchSize int,
	report func(k int, estimate float64)) (lambda float64, steps int, converged bool, err error) {
	solver := SharpnessSettings{}.WithDefaults()
	hvp, err := exactHVPAt(ctx, net, w, split, batchSize)
	if err != nil {
		return 0, 0, false, err
	}
	return lanczosTop(startVector(w, sharpnessRand(solver.Seed)), hvp, solver.Iterations, solver.Tolerance, report)
}

// curvatureAlong measures λ_max at w for SharpnessEvery and says so on progress, labelled
// with where the descent is; with gdRate, GD's step, also lr·λ_max (past 2, unstable).
func curvatureAlong(ctx context.Context, net *experiment.Net, w *experiment.Weights, split *datasets.Split, batchSize int,
	label string, gdRate float64, progress io.Writer) (float64, error) {
	lambda, steps, converged, err := largestEigenvalue(ctx, net, w, split, batchSize, func(int, float64) {})
	if err != nil {
		return 0, fmt.Errorf("fullbatch %s: λ_max: %w", label, err)
	}
	note := ""
	if gdRate > 0 {
		note = fmt.Sprintf(", lr·λ_max %.3g", gdRate*lambda)
	}
	if !converged {
		note += ", NOT converged: a lower bound"
	}
	fmt.Fprintf(progress, "fullbatch %s: λ_max %.6g (%d Lanczos steps)%s\n", label, lambda, steps, note)
	return lambda, nil
}

// adaptGDStep returns GD's step after λ_max was measured along the descent: 1/λ_max, or
// the step so far where λ_max gives none (not finite or not positive), saying which.
func adaptGDStep(rate, lambda float64, label string, progress io.Writer) float64 {
	if !finiteValue(lambda) || lambda <= 0 {
		fmt.Fprintf(progress, "fullbatch %s: λ_max %g gives no step: keeping lr %.4g\n", label, lambda, rate)
		return rate
	}
	fmt.Fprintf(progress, "fullbatch %s: lr %.4g -> %.4g (1/λ_max)\n", label, rate, 1/lambda)
	return 1 / lambda
}

// chooseGDStep sets s.GDLearningRate to 1/λ_max, λ_max the largest Hessian eigenvalue of
// the clean loss over split at lp's start point (GD's step is stable along an
// eigenvector while lr·λ < 2), and records λ_max and how it was found. Ritz values
// approach λ_max from below: one that has not converged leaves less than the 2x margin,
// and the record says so.
func chooseGDStep(ctx context.Context, lp *loadedPoint, split *datasets.Split, s *FullBatchSettings, progress io.Writer) error {
	most := SharpnessSettings{}.WithDefaults().Iterations
	lambda, steps, converged, err := largestEigenvalue(ctx, lp.net, lp.start, split, s.BatchSize, func(k int, estimate float64) {
		fmt.Fprintf(progress, "fullbatch gd: learning rate from λ_max: Lanczos step %d/%d: %.6g\n", k, most, estimate)
	})
	if err != nil {
		return fmt.Errorf("fullbatch: gd's learning rate from the curvature: %w", err)
	}
	if !finiteValue(lambda) || lambda <= 0 {
		return fmt.Errorf("fullbatch: gd's learning rate from the curvature: the largest Hessian eigenvalue at the point is %g, and no step follows from it: give a learning rate instead", lambda)
	}
	note := "converged"
	if !converged {
		note = "NOT converged: λ_max may be larger, the margin below 2/λ_max smaller"
	}
	s.GDLearningRate = 1 / lambda
	s.GDTopEigenvalue = experiment.Float(lambda)
	s.GDLearningRateFrom = fmt.Sprintf("1/λ_max at the point: λ_max %.6g over %d examples (%d Lanczos steps, %s)", lambda, split.Len(), steps, note)
	if s.GDAdaptiveLearningRate {
		s.GDLearningRateFrom += fmt.Sprintf("; then 1/λ_max again every %d steps along the descent", s.SharpnessEvery)
	}
	fmt.Fprintf(progress, "fullbatch gd: learning rate %.4g: %s\n", s.GDLearningRate, s.GDLearningRateFrom)
	return nil
}

// hostAdam is Adam on host weights, PyTorch's formulation (bias-corrected moments,
// eps added to the square root), with float64 moments.
type hostAdam struct {
	lr, beta1, beta2, eps float64
	t                     int
	m, v                  [][]float64
}

func newHostAdam(w *experiment.Weights, lr float64) *hostAdam {
	o := experiment.Optimizer{Name: experiment.Adam, LearningRate: lr}.WithDefaults() // Train's betas and eps
	a := &hostAdam{lr: o.LearningRate, beta1: o.Beta1, beta2: o.Beta2, eps: o.Epsilon}
	for _, t := range w.Tensors {
		a.m = append(a.m, make([]float64, len(t.Data)))
		a.v = append(a.v, make([]float64, len(t.Data)))
	}
	return a
}

func (a *hostAdam) step(w, grad *experiment.Weights) error {
	if len(grad.Tensors) != len(w.Tensors) {
		return fmt.Errorf("adam: gradient has %d tensors, weights %d", len(grad.Tensors), len(w.Tensors))
	}
	a.t++
	c1 := 1 - math.Pow(a.beta1, float64(a.t))
	c2 := 1 - math.Pow(a.beta2, float64(a.t))
	for i := range w.Tensors {
		t := &w.Tensors[i]
		if !t.Trainable {
			continue
		}
		g := grad.Tensors[i].Data
		if len(g) != len(t.Data) {
			return fmt.Errorf("adam: gradient of %q has %d values, want %d", t.Name, len(g), len(t.Data))
		}
		m, v := a.m[i], a.v[i]
		for j, gj := range g {
			x := float64(gj)
			m[j] = a.beta1*m[j] + (1-a.beta1)*x
			v[j] = a.beta2*v[j] + (1-a.beta2)*x*x
			t.Data[j] = float32(float64(t.Data[j]) - a.lr*(m[j]/c1)/(math.Sqrt(v[j]/c2)+a.eps))
		}
	}
	return nil
}
