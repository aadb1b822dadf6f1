package analysis

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/extremepoints/esp/corrupt"
	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/experiment"
	"github.com/gomlx/compute"
)

// Scale names of the reproduction.
const (
	ScaleSmoke = "smoke"
	ScaleQuick = "quick"
	ScalePaper = "paper"
)

// Scales lists the valid scales.
var Scales = []string{ScaleSmoke, ScaleQuick, ScalePaper}

// ScalePlan is what a scale runs: which (dataset, model) pairs, how many runs of how many
// epochs on how much data, the L2 sweep and the probes' sizes.
type ScalePlan struct {
	Name string
	// Pairs are "dataset/model".
	Pairs []string
	// Runs of each kind (normal, corrupted) per pair.
	Runs int
	// Subset is the number of training examples used (0: all); TestSubset the number of test
	// examples (0: Subset). Fewer test than training examples make the corrupted part
	// smaller, so small scales still reach the extreme point in few epochs.
	Subset, TestSubset int
	// Epochs per model ("mlp") or per pair ("cifar10/mlp"), the pair's entry first; normal
	// and corrupted runs alike (C3 compares them after the same epochs). See EpochsOf.
	Epochs map[string]int
	// ModelOverrides changes Runs, Subset and TestSubset for a model (slow models at small scales).
	ModelOverrides map[string]ModelOverride
	// WeightDecays of the L2 sweep (C4), run on the first pair, L2Runs corrupted runs each.
	WeightDecays []float64
	L2Runs       int
	// PointEpochs, per model or per pair as Epochs, trains the probes' starting point
	// apart: the study's first corrupted run that did not diverge, trained on to this
	// many epochs (the authors' restart probes started from such a longer-trained point).
	// Zero or absent: the probes start from that run itself. See PointEpochsOf.
	PointEpochs map[string]int
	// Probes from the extreme point of each pair (see PointEpochs).
	Restart     RestartSettings
	FullBatch   FullBatchSettings
	FullBatchN  int // examples of the clean training split used by the full-batch probe (0: all)
	Interpolate InterpolateSettings
	Surface     SurfaceSettings
	Sharpness   SharpnessSettings
	SharpnessN  int // examples used by the sharpness probe (0: all)
	// SharpnessRuns, per model or per pair as Epochs, measures the sharpness of the final
	// points of the first N runs of each kind of a pair's study too (of those that did not
	// diverge), as the sharpness probe does but without the eigenvalue density
	// (probes/PAIR/sharpness-runs/RUN; not again a run those probes measured): one point of
	// each kind shows numbers, several let the report test extreme points against normal
	// ones. Absent or 0: none. See SharpnessRunsOf.
	SharpnessRuns map[string]int
}

// restrictPairs returns every pair of the given datasets and models, the scale's own
// datasets or models standing in for an empty list: the scale's pairs among them first,
// in its order, then the ones outside it (trained with the scale's sizes).
func restrictPairs(scalePairs, datasetNames, modelNames []string) []string {
	var scaleDatasets, scaleModels []string
	for _, pair := range scalePairs {
		d, m, _ := strings.Cut(pair, "/")
		if !slices.Contains(scaleDatasets, d) {
			scaleDatasets = append(scaleDatasets, d)
		}
		if !slices.Contains(scaleModels, m) {
			scaleModels = append(scaleModels, m)
		}
	}
	if len(datasetNames) == 0 {
		datasetNames = scaleDatasets
	}
	if len(modelNames) == 0 {
		modelNames = scaleModels
	}
	var pairs []string
	for _, pair := range scalePairs {
		d, m, _ := strings.Cut(pair, "/")
		if slices.Contains(datasetNames, d) && slices.Contains(modelNames, m) {
			pairs = append(pairs, pair)
		}
	}
	for _, m := range modelNames {
		for _, d := range datasetNames {
			if pair := d + "/" + m; !slices.Contains(pairs, pair) {
				pairs = append(pairs, pair)
			}
		}
	}
	return pairs
}

// capExamples bounds a probe's examples n (0: all) by limit.
func capExamples(n, limit int) int {
	if n == 0 {
		return limit
	}
	return min(n, limit)
}

// sharpnessTop is how many of the largest Hessian eigenvalues a reproduction's sharpness
// probes find: past the outliers of a 10-class net (about 9, classes less one) and the gap
// below them. Each Lanczos step costs one Hessian-vector product; at the quick scale's
// points 12 took 29-33 steps where λ_max alone took 7-10.
const sharpnessTop = 12

// Plan returns the plan of a scale. Given datasets or models, its pairs are every pair of
// them, the scale's own datasets or models standing in for an empty list.
func Plan(scale string, datasetNames, modelNames []string) (*ScalePlan, error) {
	var p ScalePlan
	switch scale {
	case ScaleSmoke, "":
		// Under a minute on 2 cores: the MLP on a MNIST subset, enough to see every figure;
		// 5+5 runs, the fewest whose exact rank test can give C3's p < 0.01 (0.0079).
		p = ScalePlan{Name: ScaleSmoke, Pairs: []string{"mnist/mlp"}, Runs: 5, Subset: 2000, TestSubset: 500,
			Epochs: map[string]int{"mlp": 15}, WeightDecays: []float64{1e-4}, L2Runs: 1,
			Restart:     RestartSettings{Epochs: 10}, // after 6: 72.8% test accuracy and rising, C5 asked 73.2%; after 10: 77.4%
			FullBatch:   FullBatchSettings{Method: "both", GDAdaptiveLearningRate: true, SharpnessEvery: 10, Steps: 30, EvalEvery: 5},
			FullBatchN:  2000,
			Interpolate: InterpolateSettings{Points: 9},
			Surface:     SurfaceSettings{Points: 9, Grid: 5},
			Sharpness:   SharpnessSettings{Top: sharpnessTop, Iterations: 60, TraceSamples: 4, DensityVectors: 1, LanczosSteps: 30}, SharpnessN: 1000,
			SharpnessRuns: map[string]int{"mlp": 5}}
	case ScaleQuick:
		// Under an hour on 2 cores: MLP and LeNet on MNIST and Fashion-MNIST subsets, 8+8 MLP
		// and 6+6 LeNet runs per pair (6 vs 6 separated runs give p = 0.0022 in the exact rank test).
		// LeNet trains ~30x slower per step than the MLP on the Go backend: smaller subsets.
		// Its probes start from a point trained on to 20 epochs: after 10, the clean
		// examples the full-batch probe reads start below 95% accuracy (94.6% on MNIST),
		// not an extreme point, and C6 went untested. On Fashion-MNIST 10 epochs left the
		// corrupted runs at 80% training and 13% test accuracy, far from an extreme point
		// (C1, C3, C4 untested or failed for it); the point trained to 20 reached 98.2% and 0%.
		// Fashion-MNIST's MLP, after 15 epochs at 86% training and 16% test accuracy, gets 40
		// (all 8 corrupted runs then reach an extreme point: 97.9% and 0.9% on average).
		// At every scale plain GD takes its step from the curvature (1/λ_max): a fixed 0.1
		// diverged from Fashion-MNIST's LeNet point, whose λ_max of 22 bounds it at 0.091.
		// The step follows λ_max along the descent (measured every 10 steps): from MNIST's
		// LeNet point λ_max fell from 26 to 4.3 in 10 steps, and a step fixed at the start
		// left GD at lr·λ_max 0.16, creeping (gradient norm 29x down in 30 steps, 96x adaptive).
		p = ScalePlan{Name: ScaleQuick, Pairs: []string{"mnist/mlp", "fashion-mnist/mlp", "mnist/lenet", "fashion-mnist/lenet"},
			Runs: 8, Subset: 4000, TestSubset: 1000, Epochs: map[string]int{"mlp": 15, "lenet": 10, "fashion-mnist/mlp": 40, "fashion-mnist/lenet": 20},
			PointEpochs: map[string]int{"lenet": 20, "fashion-mnist/lenet": 30},
			ModelOverrides: map[string]ModelOverride{"lenet": {Runs: 6, Subset: 1000, TestSubset: 250,
				ProbeExamples: 500, FullBatchSteps: 30}},
			WeightDecays: []float64{1e-5, 1e-4, 1e-3}, L2Runs: 2,
			// The restarts run 10 epochs, as at the paper scale: after 5, MNIST's LeNet was at
			// 76.4% test accuracy, rising 6 points an epoch (C5 wanted 76.6%); after 10, at
			// 81.6%, its last 2 epochs gained 1.2 points (8 s a LeNet restart more).
			Restart:     RestartSettings{Epochs: 10},
			FullBatch:   FullBatchSettings{Method: "both", GDAdaptiveLearningRate: true, SharpnessEvery: 10, Steps: 100, EvalEvery: 10},
			FullBatchN:  4000,
			Interpolate: InterpolateSettings{Points: 21},
			Surface:     SurfaceSettings{Points: 21, Grid: 11},
			Sharpness:   SharpnessSettings{Top: sharpnessTop, Iterations: 60, TraceSamples: 10, DensityVectors: 1, LanczosSteps: 40}, SharpnessN: 2000,
			// Every run: the MLPs' 8+8 at 3-4 s a point, the LeNets' 6+6 at ~40 s (its H·v
			// ~60x the MLP's over a quarter of the images; 7.5 min a pair), which 6 against 6
			// can set apart at p = 0.0022.
			SharpnessRuns: map[string]int{"mlp": 8, "lenet": 6}}
	case ScalePaper:
		// The authors' protocol: 200+200 runs of every model on every dataset, full data,
		// as many epochs as their scripts ran (AuthorsFigures.Epochs: MLP 50, LeNet 11,
		// ResNet 30, more on CIFAR-10), full-batch Adam for 300 steps.
		// Meant for a GPU (--backend xla:cuda) or a cluster (esp run --shard).
		// The probes start from a point trained as long as the authors' (PointEpochs: MLP
		// 350, on CIFAR-10 1200; ResNet 100).
		p = ScalePlan{Name: ScalePaper, Runs: 200, Epochs: map[string]int{}, PointEpochs: map[string]int{},
			WeightDecays: []float64{1e-5, 1e-4, 1e-3}, L2Runs: 10,
			Restart:     RestartSettings{Epochs: 10},
			FullBatch:   FullBatchSettings{Method: "both", GDAdaptiveLearningRate: true, SharpnessEvery: 50, Steps: 300, EvalEvery: 10},
			Interpolate: InterpolateSettings{Points: 41},
			Surface:     SurfaceSettings{Points: 41, Grid: 21},
			Sharpness:   SharpnessSettings{Top: sharpnessTop, Iterations: 60, TraceSamples: 20, DensityVectors: 4, LanczosSteps: 60}, SharpnessN: 10000,
			SharpnessRuns: map[string]int{"mlp": 20, "lenet": 20, "resnet": 20}}
		for _, d := range []string{"mnist", "fashion-mnist", "cifar10"} {
			for _, m := range []string{"mlp", "lenet", "resnet"} {
				p.Pairs = append(p.Pairs, d+"/"+m)
				p.Epochs[d+"/"+m] = authorsFigures[d+"/"+m].Epochs
				if e := authorsFigures[d+"/"+m].PointEpochs; e > 0 {
					p.PointEpochs[d+"/"+m] = e
				}
			}
		}
	default:
		return nil, fmt.Errorf("unknown scale %q: valid scales are %s", scale, strings.Join(Scales, ", "))
	}
	if len(datasetNames) > 0 || len(modelNames) > 0 {
		p.Pairs = restrictPairs(p.Pairs, datasetNames, modelNames)
	}
	for _, pair := range p.Pairs {
		_, m, _ := strings.Cut(pair, "/")
		if p.EpochsOf(pair) == 0 {
			p.Epochs[m] = 11
		}
	}
	return &p, nil
}

// EpochsOf returns the epochs of a "dataset/model" pair's runs: the pair's own entry in
// Epochs, else its model's.
func (p *ScalePlan) EpochsOf(pair string) int {
	if e, ok := p.Epochs[pair]; ok {
		return e
	}
	_, m, _ := strings.Cut(pair, "/")
	return p.Epochs[m]
}

// PointEpochsOf returns the epochs of the point a pair's probes start from, as EpochsOf
// does for its runs; 0 means the study's first corrupted run that did not diverge, as
// trained.
func (p *ScalePlan) PointEpochsOf(pair string) int {
	if e, ok := p.PointEpochs[pair]; ok {
		return e
	}
	_, m, _ := strings.Cut(pair, "/")
	return p.PointEpochs[m]
}

// SharpnessRunsOf returns how many runs of each kind of a pair's study have their
// sharpness measured, as EpochsOf reads Epochs; at most the pair's runs.
func (p *ScalePlan) SharpnessRunsOf(pair string) int {
	n, ok := p.SharpnessRuns[pair]
	if !ok {
		_, m, _ := strings.Cut(pair, "/")
		n = p.SharpnessRuns[m]
	}
	return min(n, p.RunsOf(pair))
}

// SetSharpnessRuns measures the sharpness of the first n runs of each kind of every pair
// (ScalePlan.SharpnessRuns): 0 leaves the plan's, a negative n measures none.
func (p *ScalePlan) SetSharpnessRuns(n int) {
	if n == 0 {
		return
	}
	p.SharpnessRuns = map[string]int{}
	for _, pair := range p.Pairs {
		p.SharpnessRuns[pair] = max(n, 0)
	}
}

// SetPointEpochs makes every pair's probes start from a point trained epochs epochs
// (0: leave the plan's). A point trains on from the pair's first corrupted run, so it
// takes at least as many epochs as the pair's runs.
func (p *ScalePlan) SetPointEpochs(epochs int) error {
	if epochs == 0 {
		return nil
	}
	if epochs > experiment.MaxEpochs { // refused before the study trains, not when the point does
		return fmt.Errorf("invalid point epochs %d: at most %d", epochs, experiment.MaxEpochs)
	}
	for _, pair := range p.Pairs {
		if epochs < p.EpochsOf(pair) {
			return fmt.Errorf("invalid point epochs %d: the probes' point trains on from the first corrupted run, %s has %d epochs", epochs, pair, p.EpochsOf(pair))
		}
	}
	p.PointEpochs = map[string]int{}
	for _, pair := range p.Pairs {
		p.PointEpochs[pair] = epochs
	}
	return nil
}

// ModelOverride is a model's own runs and data sizes within a scale.
type ModelOverride struct {
	Runs, Subset, TestSubset int
	// ProbeExamples bounds the examples of the full-batch and sharpness probes, and
	// FullBatchSteps their steps (0: the scale's).
	ProbeExamples, FullBatchSteps int
}

// RunsOf returns the normal runs of a pair ("mnist/lenet"), as many as its corrupted
// ones: the scale's, or its model's override.
func (p *ScalePlan) RunsOf(pair string) int {
	_, model, _ := strings.Cut(pair, "/")
	runs, _, _ := p.forModel(model)
	return runs
}

// forModel returns the runs and data sizes of a model.
func (p *ScalePlan) forModel(model string) (runs, subset, testSubset int) {
	runs, subset, testSubset = p.Runs, p.Subset, p.TestSubset
	if o, ok := p.ModelOverrides[model]; ok {
		runs, subset, testSubset = o.Runs, o.Subset, o.TestSubset
	}
	return runs, subset, testSubset
}

// ReproduceSettings configures [Reproduce]. The zero value is the smoke scale on the Go backend.
type ReproduceSettings struct {
	Scale    string
	Datasets []string // restrict the scale's pairs; empty: all
	Models   []string
	// Workers runs that many training runs at once, and each worker trains Ensemble runs
	// of one kind in one compiled graph (see experiment.StudySettings), or takes
	// StepsPerCall steps per call of a run's graph (experiment.Settings; 0 or 1: one).
	Workers, Ensemble, StepsPerCall int
	// Backend names the compute backend ("" = the Go backend).
	Backend string
	// PointEpochs, when positive, trains every pair's probes' starting point apart, that
	// many epochs (at least the pair's runs'), in place of the scale's ScalePlan.PointEpochs.
	PointEpochs int
	// SharpnessRuns, when positive, measures the sharpness of the first SharpnessRuns runs
	// of each kind of every pair, in place of the scale's ScalePlan.SharpnessRuns; when
	// negative, of none.
	SharpnessRuns int
	// Seed is the base seed of everything.
	Seed uint64
	// Data says where datasets come from.
	Data datasets.Options
	// Report thresholds.
	Report ReportSettings
}

// ErrDataset is matched (errors.Is) by Reproduce's errors that come from loading a
// dataset: files missing and not to be had, damaged, or of another dataset. They are about
// the user's data, not about the work.
var ErrDataset = errors.New("analysis: dataset unavailable")

// datasetError keeps the datasets package's message as it is while matching ErrDataset.
type datasetError struct{ err error }

func (e datasetError) Error() string        { return e.err.Error() }
func (e datasetError) Unwrap() error        { return e.err }
func (e datasetError) Is(target error) bool { return target == ErrDataset }

// Reproduce runs the whole study of a scale into out: the runs of every pair
// (out/studies/DATASET-MODEL), the L2 sweep (out/l2/...), the probes from an extreme point
// of every pair (out/probes/DATASET-MODEL/PROBE; the point trained apart in
// out/probes/DATASET-MODEL/point where the plan says, see ScalePlan.PointEpochs), the
// sharpness of the first runs of each kind (out/probes/DATASET-MODEL/sharpness-runs/RUN,
// see ScalePlan.SharpnessRuns), and the report (out/report). The probes start from the
// study's first runs of each kind that did not diverge. It resumes: finished runs and
// probes are kept, interrupted runs resume from their last epoch (see
// experiment.RunStudy), unfinished probes are redone.
func Reproduce(ctx context.Context, s ReproduceSettings, out string, progress io.Writer) (*Report, error) {
	plan, err := Plan(s.Scale, s.Datasets, s.Models)
	if err != nil {
		return nil, err
	}
	if err := plan.SetPointEpochs(s.PointEpochs); err != nil {
		return nil, err
	}
	plan.SetSharpnessRuns(s.SharpnessRuns)
	if err := checkProbeStarts(plan, out); err != nil {
		return nil, err
	}
	if progress == nil {
		progress = io.Discard
	}
	// One backend for every probe (a probe given none would make its own, never freed);
	// the studies' workers make their own, one per worker.
	backend, err := experiment.NewBackend(s.Backend)
	if err != nil {
		return nil, err
	}
	defer backend.Finalize()
	start := time.Now()
	// Every dataset before any training: a missing or damaged one stops the reproduction
	// now, not after hours of the pairs before it.
	loaded := map[string]*datasets.Dataset{}
	for _, pair := range plan.Pairs {
		name, _, _ := strings.Cut(pair, "/")
		if loaded[name] == nil {
			full, err := datasets.Load(ctx, name, s.Data)
			if err != nil {
				if ctx.Err() != nil {
					return nil, err
				}
				return nil, datasetError{err}
			}
			loaded[name] = full
		}
	}
	for i, pair := range plan.Pairs {
		name, model, _ := strings.Cut(pair, "/")
		full := loaded[name]
		runs, subset, testSubset := plan.forModel(model)
		ds := full.HeadSplits(subset, cmp.Or(testSubset, subset))
		fmt.Fprintf(progress, "[%s] %s: %d normal + %d corrupted runs of %d epochs on %d/%d examples (%s elapsed)\n",
			plan.Name, pair, runs, runs, plan.EpochsOf(pair), ds.Train.Len(), ds.Test.Len(), time.Since(start).Round(time.Second))
		run := experiment.Settings{Dataset: name, Subset: subset, Model: model, ModelConfig: AuthorsModelConfig(model),
			Epochs: plan.EpochsOf(pair), Backend: s.Backend, StepsPerCall: s.StepsPerCall}
		studyDir, probesDir := pairDirs(out, pair)
		study := experiment.StudySettings{Run: run, Runs: runs, Seed: s.Seed, Workers: s.Workers,
			Ensemble: s.Ensemble, Corruption: corrupt.Settings{Strategy: corrupt.WrongUniform}}
		studied, err := experiment.RunStudy(ctx, ds, study, studyDir, progress)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", pair, err)
		}
		if i == 0 {
			for _, wd := range plan.WeightDecays {
				l2 := study
				l2.Run.WeightDecay = wd
				l2.Runs = plan.L2Runs
				l2.Kinds = []string{"corrupted"}
				fmt.Fprintf(progress, "[%s] %s: L2 sweep, λ=%g, %d corrupted runs\n", plan.Name, pair, wd, plan.L2Runs)
				dir := filepath.Join(out, L2Dir, slug(fmt.Sprintf("%s-%s-wd%g", name, model, wd)))
				if _, err := experiment.RunStudy(ctx, ds, l2, dir, progress); err != nil {
					return nil, fmt.Errorf("%s L2 sweep: %w", pair, err)
				}
			}
		}
		probePlan := *plan
		if o, ok := plan.ModelOverrides[model]; ok {
			if o.ProbeExamples > 0 {
				probePlan.FullBatchN = capExamples(plan.FullBatchN, o.ProbeExamples)
				probePlan.SharpnessN = capExamples(plan.SharpnessN, o.ProbeExamples)
			}
			if o.FullBatchSteps > 0 {
				probePlan.FullBatch.Steps = o.FullBatchSteps
			}
		}
		starts, err := probeStarts(studied)
		if err != nil {
			return nil, fmt.Errorf("%s probes: %w", pair, err)
		}
		if len(starts.diverged) > 0 {
			fmt.Fprintf(progress, "[%s] %s: %s diverged: the probes start from %s and %s\n", plan.Name, pair,
				strings.Join(starts.diverged, ", "), filepath.Base(starts.normal.Run), filepath.Base(starts.corrupted.Run))
		}
		extreme := starts.corrupted
		if n := plan.PointEpochsOf(pair); n > 0 {
			fmt.Fprintf(progress, "[%s] %s: the probes' starting point: %s trained to %d epochs\n", plan.Name, pair, filepath.Base(extreme.Run), n)
			if extreme, err = trainPoint(ctx, ds, study, starts.corruptedIndex, n, filepath.Join(probesDir, PointDir), progress); err != nil {
				return nil, fmt.Errorf("%s probes' point: %w", pair, err)
			}
		}
		if err := runProbes(ctx, backend, &probePlan, ds, starts, extreme, probesDir, progress); err != nil {
			return nil, fmt.Errorf("%s probes: %w", pair, err)
		}
		if err := sharpnessOfRuns(ctx, backend, &probePlan, plan.SharpnessRunsOf(pair), ds, studied, probesDir, progress); err != nil {
			return nil, fmt.Errorf("%s sharpness of its runs: %w", pair, err)
		}
	}
	fmt.Fprintf(progress, "[%s] report (%s elapsed)\n", plan.Name, time.Since(start).Round(time.Second))
	return WriteReportFromDir(ctx, out, filepath.Join(out, ReportDir), s.Report, progress)
}

// The folders of a reproduction's directory (see Reproduce).
const (
	StudiesDir = "studies"
	L2Dir      = "l2"
	ProbesDir  = "probes"
	ReportDir  = "report"
)

// PointDir and PointFile: a pair's probes directory holds, when its plan trains the
// probes' starting point apart (ScalePlan.PointEpochs), a one-run study in PointDir,
// marked by PointFile ({"pair", "epochs"}). The report leaves runs under such a marker
// out of the distributions of runs, and links the probes to them.
const (
	PointDir  = "point"
	PointFile = "point.json"
)

// trainPoint trains (or, when done before, finds) the probes' starting point: the
// study's corrupted run of index index (its first that did not diverge), same seed and
// corruption, trained for epochs epochs, as a one-run study in dir.
func trainPoint(ctx context.Context, ds *datasets.Dataset, study experiment.StudySettings, index, epochs int, dir string, progress io.Writer) (Point, error) {
	studyEpochs := study.Run.Epochs
	study.Run.Epochs = epochs
	study.Runs, study.FirstIndex, study.Kinds, study.Ensemble = 1, index, []string{experiment.KindCorrupted}, 0
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Point{}, err
	}
	marker, err := json.Marshal(map[string]any{"pair": study.Run.Dataset + "/" + study.Run.Model, "epochs": epochs})
	if err != nil {
		return Point{}, err
	}
	// A marker already there stays: if it names other epochs, RunStudy refuses the
	// study (its study.json differs) and nothing saved changes.
	if path := filepath.Join(dir, PointFile); !exists(path) {
		if err := datasets.WriteFileAtomic(path, append(marker, '\n')); err != nil {
			return Point{}, err
		}
	}
	trained, err := experiment.RunStudy(ctx, ds, study, dir, progress)
	if err != nil {
		return Point{}, err
	}
	point, _, diverged, err := firstFiniteRun(trained, experiment.KindCorrupted)
	if len(diverged) > 0 {
		return Point{}, fmt.Errorf("%s diverged when trained on to %d epochs, where its first %d did not: the probes have no point to start from (a smaller --point-epochs, or 0 to start them from the study's runs, in another --out)",
			filepath.Join(dir, experiment.RunsDir, diverged[0]), epochs, studyEpochs)
	}
	return point, err
}

// runPoint is the final weights of a study's run.
func runPoint(studyDir, name string) Point {
	return Point{Run: filepath.Join(studyDir, experiment.RunsDir, name), Weights: weightsFinal}
}

// firstFiniteRun returns the final weights of a study's first run of a kind that did not
// diverge (a diverged run's weights are not finite: no probe starts there), its index,
// and the runs of the kind before it, which diverged. It fails where every finished run
// of the kind diverged, or where one before the first that did not is still missing.
func firstFiniteRun(study *experiment.StudyResult, kind string) (point Point, index int, diverged []string, err error) {
	runs := slices.Clone(study.Finished)
	for _, r := range study.Missing { // a run not trained yet has no status
		runs = append(runs, experiment.RunResult{StudyRun: r})
	}
	for _, r := range runsOfKind(runs, kind) {
		switch {
		case r.Status == experiment.StatusOK:
			return runPoint(study.Dir, r.Name()), r.Index, diverged, nil
		case r.Status == "":
			return Point{}, 0, diverged, fmt.Errorf("%s: %s is not trained yet", study.Dir, r.Name())
		default:
			diverged = append(diverged, r.Name())
		}
	}
	return Point{}, 0, diverged, fmt.Errorf("%s: every %s run diverged (%d): no point for the probes to start from", study.Dir, kind, len(diverged))
}

// runsOfKind returns the runs of a kind among runs, in the order of their index.
func runsOfKind(runs []experiment.RunResult, kind string) []experiment.RunResult {
	out := slices.DeleteFunc(slices.Clone(runs), func(r experiment.RunResult) bool { return r.Kind != kind })
	slices.SortFunc(out, func(a, b experiment.RunResult) int { return cmp.Compare(a.Index, b.Index) })
	return out
}

// pairStarts are the points a pair's probes start from: its study's first normal and
// first corrupted runs that did not diverge (see firstFiniteRun).
type pairStarts struct {
	normal, corrupted Point
	corruptedIndex    int
	diverged          []string // the runs before them, which diverged
}

// probeStarts finds a study's pairStarts.
func probeStarts(study *experiment.StudyResult) (pairStarts, error) {
	var s pairStarts
	var divergedNormal, divergedCorrupted []string
	var err error
	if s.normal, _, divergedNormal, err = firstFiniteRun(study, experiment.KindNormal); err != nil {
		return s, err
	}
	if s.corrupted, s.corruptedIndex, divergedCorrupted, err = firstFiniteRun(study, experiment.KindCorrupted); err != nil {
		return s, err
	}
	s.diverged = append(divergedNormal, divergedCorrupted...)
	return s, nil
}

// normalSharpnessDir is the directory, among a pair's probes, of the sharpness probe from
// the study's first normal run that did not diverge: the extreme point's compared with
// a normal one's.
const normalSharpnessDir = "sharpness-normal"

// runProbes runs every probe from extreme (and interpolates between the study's normal
// and corrupted runs of starts, and measures the sharpness of that normal run too),
// skipping probes already done.
func runProbes(ctx context.Context, backend compute.Backend, plan *ScalePlan, ds *datasets.Dataset, starts pairStarts, extreme Point, probesDir string, progress io.Writer) error {
	normal, corrupted := starts.normal, starts.corrupted
	probes := []struct {
		name string
		run  func(dir string) error
	}{
		{"restart", func(dir string) error {
			_, err := Restart(ctx, backend, extreme, ds, plan.Restart, dir, progress)
			return err
		}},
		{"fullbatch", func(dir string) error {
			_, err := FullBatch(ctx, backend, extreme, ds.Head(plan.FullBatchN), plan.FullBatch, dir, progress)
			return err
		}},
		{"interpolate", func(dir string) error {
			_, err := Interpolate(ctx, backend, normal, corrupted, ds, plan.Interpolate, dir, progress)
			return err
		}},
		{"surface", func(dir string) error {
			_, err := Surface(ctx, backend, extreme, ds, plan.Surface, dir, progress)
			return err
		}},
		{"sharpness", func(dir string) error {
			_, err := Sharpness(ctx, backend, extreme, ds.Head(plan.SharpnessN), plan.Sharpness, dir, progress)
			return err
		}},
		{normalSharpnessDir, func(dir string) error {
			_, err := Sharpness(ctx, backend, normal, ds.Head(plan.SharpnessN), plan.Sharpness, dir, progress)
			return err
		}},
	}
	for _, p := range probes {
		dir := filepath.Join(probesDir, p.name)
		start, checked := probeStartOf(p.name, extreme, normal)
		if info := finishedProbe(dir); info != nil {
			if checked {
				if err := startedElsewhere(dir, info, start); err != nil {
					return err
				}
			}
			continue // done in an earlier, interrupted reproduction
		}
		if err := os.RemoveAll(dir); err != nil { // an unfinished probe: start it again
			return err
		}
		from := start.Run
		if !checked {
			from = normal.Run + " and " + corrupted.Run
		}
		fmt.Fprintf(progress, "[%s] probe %s from %s\n", plan.Name, p.name, from)
		if err := p.run(dir); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
	}
	return nil
}

// SharpnessRunsDir is the directory, among a pair's probes, of the sharpness of its
// study's runs (ScalePlan.SharpnessRuns): one probe a run, named as the run.
const SharpnessRunsDir = "sharpness-runs"

// sharpnessOfRuns measures the sharpness of the final points of the first n runs of each
// kind of a study that did not diverge (a diverged run's weights are not finite), skipping
// those measured before, here or by the pair's own sharpness probes (measuredByPair): a
// probe of weights the run no longer holds (its weights file changed since) is measured
// again, one of another run refused. The eigenvalue density is left to the pair's
// sharpness probes: the runs' are compared by λ_max, trace and outliers.
func sharpnessOfRuns(ctx context.Context, backend compute.Backend, plan *ScalePlan, n int, ds *datasets.Dataset, study *experiment.StudyResult,
	probesDir string, progress io.Writer) error {
	settings := plan.Sharpness
	settings.DensityVectors, settings.LanczosSteps = 0, 0
	for _, kind := range []string{experiment.KindNormal, experiment.KindCorrupted} {
		measured := 0
		for _, r := range runsOfKind(study.Finished, kind) {
			if measured == n {
				break
			}
			if r.Status != experiment.StatusOK {
				fmt.Fprintf(progress, "[%s] sharpness of the runs: %s %s, left out\n", plan.Name, r.Name(), r.Status)
				continue
			}
			measured++
			point := runPoint(study.Dir, r.Name())
			if measuredByPair(probesDir, point) {
				continue
			}
			dir := filepath.Join(probesDir, SharpnessRunsDir, r.Name())
			if info := finishedProbe(dir); info != nil {
				if err := startedElsewhere(dir, info, point); err != nil {
					return err
				}
				if measuredNow(info, point) {
					continue
				}
				fmt.Fprintf(progress, "[%s] %s measured weights of sha256 %s, which %s no longer holds: measuring it again\n",
					plan.Name, dir, info.RunSHA256, point.WeightsPath())
			}
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
			fmt.Fprintf(progress, "[%s] probe sharpness of %s (%d of %d of each kind)\n", plan.Name, point.Run, measured, n)
			if _, err := Sharpness(ctx, backend, point, ds.Head(plan.SharpnessN), settings, dir, progress); err != nil {
				return fmt.Errorf("%s: %w", r.Name(), err)
			}
		}
	}
	return nil
}

// measuredByPair reports whether one of a pair's own sharpness probes measured the weights
// point holds now. Its λ_max and trace are those the runs' probe would find (the same
// settings, seed and examples; its density is drawn after them), and the report counts a
// run once.
func measuredByPair(probesDir string, point Point) bool {
	for _, name := range []string{"sharpness", normalSharpnessDir} {
		if info := finishedProbe(filepath.Join(probesDir, name)); info != nil && sameRun(info.Run, point.Run) && measuredNow(info, point) {
			return true
		}
	}
	return false
}

// measuredNow reports whether a probe (info its probe.json) measured the weights point
// holds now: probe.json records their checksum.
func measuredNow(info *ProbeInfo, point Point) bool {
	meta, err := experiment.ReadWeightsMetadata(point.WeightsPath())
	return err == nil && info.RunSHA256 != "" && meta[experiment.WeightsChecksumKey] == info.RunSHA256
}

// pairDirs returns the directories of a pair ("mnist/mlp") in the reproduction out: its
// study's and its probes'.
func pairDirs(out, pair string) (studyDir, probesDir string) {
	name, model, _ := strings.Cut(pair, "/")
	dir := slug(name + "-" + model)
	return filepath.Join(out, StudiesDir, dir), filepath.Join(out, ProbesDir, dir)
}

// probeStartOf returns the point a reproduction's probe named name (its directory)
// starts from, and whether a finished one is checked against it: not interpolate, which
// runs between two.
func probeStartOf(name string, extreme, normal Point) (Point, bool) {
	switch name {
	case "interpolate":
		return Point{}, false
	case normalSharpnessDir:
		return normal, true
	}
	return extreme, true
}

// startedElsewhere refuses the finished probe in dir (info its probe.json) if it started
// from another point than start (a reproduction of another --point-epochs).
func startedElsewhere(dir string, info *ProbeInfo, start Point) error {
	if sameRun(info.Run, start.Run) {
		return nil
	}
	return fmt.Errorf("%w: %s started from %s, this reproduction starts it from %s (another --point-epochs?): choose another --out (nothing saved is overwritten)",
		experiment.ErrStudyMismatch, dir, info.Run, start.Run)
}

// checkProbeStarts refuses, before any training, a reproduction directory out whose
// finished probes started from another point than the plan's (startedElsewhere).
func checkProbeStarts(plan *ScalePlan, out string) error {
	for _, pair := range plan.Pairs {
		studyDir, probesDir := pairDirs(out, pair)
		if err := checkPairProbeStarts(plan, pair, studyDir, probesDir); err != nil {
			return err
		}
		runs, _ := os.ReadDir(filepath.Join(probesDir, SharpnessRunsDir))
		for _, e := range runs { // each the probe of the study's run of its name
			dir := filepath.Join(probesDir, SharpnessRunsDir, e.Name())
			if info := finishedProbe(dir); info != nil {
				if err := startedElsewhere(dir, info, runPoint(studyDir, e.Name())); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// checkPairProbeStarts is checkProbeStarts for a pair's own probes, which start from runs
// of its study (probeStarts): checked where the study can tell them.
func checkPairProbeStarts(plan *ScalePlan, pair, studyDir, probesDir string) error {
	entries, _ := os.ReadDir(probesDir)
	if len(entries) == 0 {
		return nil
	}
	study, err := experiment.LoadStudy(studyDir)
	if err != nil {
		return nil // none yet, or one RunStudy refuses, saying why
	}
	starts, err := probeStarts(study)
	if err != nil {
		return nil // runProbes checks the probes once the study is trained
	}
	extreme := starts.corrupted
	if plan.PointEpochsOf(pair) > 0 { // that run trained on (trainPoint), of the same name
		extreme = runPoint(filepath.Join(probesDir, PointDir), filepath.Base(starts.corrupted.Run))
	}
	for _, e := range entries {
		dir := filepath.Join(probesDir, e.Name())
		start, checked := probeStartOf(e.Name(), extreme, starts.normal)
		if info := finishedProbe(dir); info != nil && checked {
			if err := startedElsewhere(dir, info, start); err != nil {
				return err
			}
		}
	}
	return nil
}

// ReadProbeInfo reads the probe.json of the probe directory dir.
func ReadProbeInfo(dir string) (*ProbeInfo, error) {
	path := filepath.Join(dir, ProbeInfoFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var info ProbeInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &info, nil
}

// finishedProbe returns the probe.json of the probe in dir if it completed (see
// ProbeInfo.Finished), else nil.
func finishedProbe(dir string) *ProbeInfo {
	info, err := ReadProbeInfo(dir)
	if err != nil || info.Finished == nil {
		return nil
	}
	return info
}

// sameRun reports whether two paths name the same run of a reproduction: the same
// study ("mnist-mlp" or "point") and run, wherever the output directory has moved since.
func sameRun(a, b string) bool {
	tail := func(p string) string {
		p = filepath.Clean(p)
		run, runs := filepath.Base(p), filepath.Dir(p)
		return filepath.Join(filepath.Base(filepath.Dir(runs)), filepath.Base(runs), run)
	}
	return tail(a) == tail(b)
}
