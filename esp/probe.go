package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/gomlx/compute"

	"github.com/extremepoints/esp/analysis"
	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/experiment"
)

var probeNames = []string{"fullbatch", "interpolate", "restart", "sharpness", "surface"}

// probeFlags are the flags every probe shares.
type probeFlags struct {
	data    dataFlags
	run     string
	weights string
	out     string
	backend string
}

func (p *probeFlags) register(fs *flag.FlagSet, withRun bool) {
	p.data.register(fs)
	fs.Lookup("subset").Usage = "use only the first N examples of each split (default: as many of each as the run held; 0: all)"
	if withRun {
		fs.StringVar(&p.run, "run", "", "run directory of the point to probe (esp train --out)")
		fs.StringVar(&p.weights, "weights", "final", "which weights of the run: final or init")
	}
	fs.StringVar(&p.out, "out", "", "probe directory to create (must be new or empty)")
	fs.StringVar(&p.backend, "backend", os.Getenv("GOMLX_BACKEND"), "compute backend: "+strings.Join(experiment.BackendNames, ", ")+" (default $GOMLX_BACKEND, else go)")
}

// setup validates the shared flags, checks the run directory of point, and loads the
// backend and the run's dataset (with the run's subset unless --subset is given).
func (p *probeFlags) setup(ctx context.Context, fs *flag.FlagSet, point analysis.Point, stderr io.Writer) (compute.Backend, *datasets.Dataset, error) {
	if err := p.data.validate(); err != nil {
		return nil, nil, err
	}
	if p.out == "" {
		return nil, nil, usagef("--out DIR is required: the probe's files go there")
	}
	kind := strings.TrimPrefix(fs.Name(), "probe ")
	again := unfinishedProbe(p.out, kind, point)
	if !again {
		if err := checkOutDir(p.out); err != nil {
			return nil, nil, err
		}
	}
	config, err := analysis.CheckPoint(point)
	if err != nil {
		return nil, nil, badInput(err)
	}
	backend, err := experiment.NewBackend(p.backend)
	if err != nil {
		return nil, nil, err
	}
	data := newPointData(p.data, flagGiven(fs, "subset"))
	ds, err := data.of(ctx, point.Run, config, stderr)
	if err != nil {
		return nil, nil, err
	}
	if again {
		if err := removeUnfinishedProbe(p.out, kind, point.Run, stderr); err != nil {
			return nil, nil, err
		}
	}
	return backend, ds, nil
}

// removeUnfinishedProbe removes the unfinished (interrupted) probe of kind from run in
// dir, saying so on stderr, so that the probe starts again there.
func removeUnfinishedProbe(dir, kind, run string, stderr io.Writer) error {
	fmt.Fprintf(stderr, "%s holds an unfinished %s probe from %s (interrupted): starting it again\n", dir, kind, run)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing the unfinished probe in %s: %w", dir, err)
	}
	return nil
}

// pointData loads the datasets of the runs a command probes, each once however many runs
// share it (all of a study's), and gives each run the part of it that the run held.
type pointData struct {
	flags       dataFlags
	subsetGiven bool                         // --subset given: every run gets that many examples
	loaded      map[string]*datasets.Dataset // by name, whole or cut to --subset
	noted       bool                         // said that --subset goes past a run's examples
}

func newPointData(flags dataFlags, subsetGiven bool) *pointData {
	if !subsetGiven {
		flags.subset = 0 // loaded whole, cut per run to what it held
	}
	return &pointData{flags: flags, subsetGiven: subsetGiven, loaded: map[string]*datasets.Dataset{}}
}

// of returns the dataset of the run in dir (config its config.json): the first examples of
// each split the run held, as config.json counts them, unless --subset was given. A run
// may have held fewer test than training examples (esp reproduce's scales, the
// notebooks), and a test image it did not train on with a wrong label is no test of its
// extreme point.
func (d *pointData) of(ctx context.Context, dir string, config *experiment.RunConfig, stderr io.Writer) (*datasets.Dataset, error) {
	name := config.Settings.Dataset
	if name == "" {
		name = config.Dataset.Name
	}
	ds, ok := d.loaded[name]
	if !ok {
		var err error
		if ds, err = d.flags.load(ctx, name, stderr); err != nil {
			return nil, err
		}
		d.loaded[name] = ds
	}
	if !d.subsetGiven {
		if ds.Train.Len() < config.Dataset.Train || ds.Test.Len() < config.Dataset.Test {
			return nil, usagef("the run %s held %d training and %d test examples of %s, the dataset has %d and %d",
				dir, config.Dataset.Train, config.Dataset.Test, name, ds.Train.Len(), ds.Test.Len())
		}
		ds = ds.HeadSplits(config.Dataset.Train, config.Dataset.Test)
	} else if !d.noted && (ds.Train.Len() > config.Dataset.Train || ds.Test.Len() > config.Dataset.Test) {
		// Allowed (a point seen on new data), but the point's accuracies are then not those
		// the run reached: say so once.
		d.noted = true
		fmt.Fprintf(stderr, "note: --subset %d: the probe takes %d training and %d test examples of %s, the run %s held %d and %d: "+
			"the point is measured on examples the run did not hold (leave --subset out for the run's)\n",
			d.flags.subset, ds.Train.Len(), ds.Test.Len(), name, dir, config.Dataset.Train, config.Dataset.Test)
	}
	if ds.NumClasses() != config.Dataset.Classes {
		return nil, usagef("dataset %s has %d classes, the run %s was trained on %d", name, ds.NumClasses(), dir, config.Dataset.Classes)
	}
	return ds, nil
}

// unfinishedProbe reports whether dir holds an unfinished probe of kind from point
// (interrupted), which the probe starts again, as a reproduction does: its lines so far
// are no result (reports leave unfinished probes out).
func unfinishedProbe(dir, kind string, point analysis.Point) bool {
	info, err := analysis.ReadProbeInfo(dir)
	if err != nil || info.Finished != nil || info.Probe != kind {
		return false
	}
	return info.StartedFrom(dir, point.Run)
}

// prepare parses the flags, runs check (the probe's own validation of its settings: its
// errors are the user's, exit code 2), and loads the point's dataset and backend.
func (p *probeFlags) prepare(ctx context.Context, fs *flag.FlagSet, args []string, check func() error, stderr io.Writer) (analysis.Point, compute.Backend, *datasets.Dataset, error) {
	if err := parseProbeFlags(fs, args); err != nil {
		return analysis.Point{}, nil, nil, err
	}
	if err := check(); err != nil {
		return analysis.Point{}, nil, nil, badInput(err)
	}
	point, err := p.point()
	if err != nil {
		return analysis.Point{}, nil, nil, err
	}
	backend, ds, err := p.setup(ctx, fs, point, stderr)
	if err != nil {
		return analysis.Point{}, nil, nil, err
	}
	return point, backend, ds, nil
}

// point returns the point named by --run and --weights.
func (p *probeFlags) point() (analysis.Point, error) {
	if p.run == "" {
		return analysis.Point{}, usagef("--run DIR is required: the run directory of the point to probe")
	}
	if err := p.checkWeights(); err != nil {
		return analysis.Point{}, err
	}
	return analysis.Point{Run: p.run, Weights: p.weights}, nil
}

// checkWeights refuses a --weights other than final and init.
func (p *probeFlags) checkWeights() error {
	if p.weights != "final" && p.weights != "init" {
		return usagef("invalid --weights %q: valid: final, init", p.weights)
	}
	return nil
}

func runProbe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	subcommands := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"restart": runProbeRestart, "fullbatch": runProbeFullBatch, "interpolate": runProbeInterpolate,
		"surface": runProbeSurface, "sharpness": runProbeSharpness,
	}
	if len(args) == 0 {
		return usagef("missing probe: valid probes are %s", strings.Join(probeNames, ", "))
	}
	if args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintf(stderr, "Usage: esp probe PROBE --run DIR --out DIR [flags]\n       esp probe sharpness --study DIR --out DIR [flags]   (every run of a study)\n\n"+
			"PROBE is one of %s; run 'esp probe PROBE -h' for its flags.\n", strings.Join(probeNames, ", "))
		return flag.ErrHelp
	}
	sub, ok := subcommands[args[0]]
	if !ok {
		return usagef("unknown probe %q: valid probes are %s", args[0], strings.Join(probeNames, ", "))
	}
	err := sub(ctx, args[1:], stdout, stderr)
	if errors.Is(err, context.Canceled) {
		return interruptedf("interrupted: run the same command again to start the probe again (its unfinished output is replaced)")
	}
	return err
}

func parseProbeFlags(fs *flag.FlagSet, args []string) error {
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("unexpected arguments %q", rest)
	}
	return nil
}

func runProbeRestart(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("probe restart", stderr, "probe restart --run DIR [--epochs N] [--optimizer adam|sgd] [--lr LR] --out DIR\n\n"+
		"Minibatch descent from the run's point on the clean training split (claim C5); writes probe.json and restart.jsonl.")
	var pf probeFlags
	pf.register(fs, true)
	var s analysis.RestartSettings
	fs.IntVar(&s.Epochs, "epochs", 0, "epochs on the clean training split (default 5)")
	fs.StringVar(&s.Optimizer.Name, "optimizer", "adam", "optimizer: adam or sgd")
	fs.Float64Var(&s.Optimizer.LearningRate, "lr", 0, "learning rate (default 1e-3 for adam, 1e-2 for sgd)")
	fs.Float64Var(&s.Optimizer.Momentum, "momentum", 0, "SGD momentum")
	fs.IntVar(&s.BatchSize, "batch-size", 0, "minibatch size (default 128)")
	fs.Uint64Var(&s.Seed, "seed", 0, "seed of the data order")
	point, backend, ds, err := pf.prepare(ctx, fs, args, func() error {
		if err := checkRate("lr", s.Optimizer.LearningRate); err != nil {
			return err // before Validate, whose message names no flag
		}
		if err := s.Validate(); err != nil {
			return err
		}
		if flagGiven(fs, "momentum") && s.Optimizer.Name != experiment.SGD {
			return fmt.Errorf("--momentum is SGD's (--optimizer sgd), not %s's", s.Optimizer.Name)
		}
		return nil
	}, stderr)
	if err != nil {
		return err
	}
	defer backend.Finalize()
	lines, err := analysis.Restart(ctx, backend, point, ds, s, pf.out, stderr)
	if err != nil {
		return err
	}
	first, last := lines[0], lines[len(lines)-1]
	fmt.Fprintf(stdout, "restart from %s: test_acc %.4f -> %.4f, train_acc %.4f -> %.4f after %d epochs, dist_from_start %.3f\nprobe directory: %s\n",
		point, first.TestAcc, last.TestAcc, first.TrainAcc, last.TrainAcc, last.Epoch, last.DistFromStart, pf.out)
	return nil
}

func runProbeFullBatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("probe fullbatch", stderr, "probe fullbatch --run DIR [--method adam|gd|both] [--steps N] [--lr RATE|auto|adaptive] [--sharpness-every N] [--subset N] --out DIR\n\n"+
		"Full-batch descent from the run's point on the clean training split, logging the gradient norm (claim C6)\n"+
		"and, with --sharpness-every, the top Hessian eigenvalue; writes probe.json and fullbatch.jsonl.")
	var pf probeFlags
	pf.register(fs, true)
	var s analysis.FullBatchSettings
	fs.StringVar(&s.Method, "method", analysis.MethodAdam, "method: adam (full-batch Adam, the authors'), gd (plain gradient descent) or both")
	fs.IntVar(&s.Steps, "steps", 0, "steps per method (default 300)")
	fs.Var(gdStepFlag{&s}, "lr", "plain GD's learning `rate`, or auto: 1/λ_max at the point, half the 2/λ_max above which GD diverges, λ_max\n"+
		"(the top Hessian eigenvalue, as esp probe sharpness measures it) over the same examples, or adaptive: 1/λ_max\n"+
		"at the point and again wherever --sharpness-every measures it along the descent (default 0.1)")
	fs.Float64Var(&s.AdamLearningRate, "adam-lr", 0, "full-batch Adam's learning rate (default 1e-3)")
	fs.IntVar(&s.EvalEvery, "eval-every", 0, "measure train and test accuracy every N steps (default 10; always at the first and last step)")
	fs.IntVar(&s.SharpnessEvery, "sharpness-every", 0, "measure λ_max (the top Hessian eigenvalue) every N steps, and at the first and last: up to 20\n"+
		"Hessian-vector products each (0, the default: never)")
	point, backend, ds, err := pf.prepare(ctx, fs, args, func() error {
		if err := errors.Join(checkRate("lr", s.GDLearningRate), checkRate("adam-lr", s.AdamLearningRate)); err != nil {
			return err
		}
		if s.Method == analysis.MethodAdam && flagGiven(fs, "lr") || s.Method == analysis.MethodGD && flagGiven(fs, "adam-lr") {
			return fmt.Errorf("--lr is plain GD's rate and --adam-lr Adam's: give the one of --method %s", s.Method)
		}
		return s.Validate()
	}, stderr)
	if err != nil {
		return err
	}
	defer backend.Finalize()
	lines, err := analysis.FullBatch(ctx, backend, point, ds, s, pf.out, stderr)
	if err != nil {
		return err
	}
	for _, method := range []string{analysis.MethodAdam, analysis.MethodGD} {
		var first, last *analysis.FullBatchStep
		var lastLambda experiment.Float // the last λ_max measured along the way
		for i := range lines {
			if lines[i].Method == method {
				if first == nil {
					first = &lines[i]
				}
				last = &lines[i]
				if lines[i].TopEigenvalue != 0 {
					lastLambda = lines[i].TopEigenvalue
				}
			}
		}
		if first != nil {
			rate := fmt.Sprintf("lr %.4g", first.LearningRate)
			switch {
			case method == analysis.MethodGD && s.GDAdaptiveLearningRate:
				rate = fmt.Sprintf("lr %.4g -> %.4g (1/λ_max along the descent)", first.LearningRate, last.LearningRate)
			case method == analysis.MethodGD && s.GDAutoLearningRate:
				rate += " (1/λ_max at the point)"
			}
			if first.TopEigenvalue != 0 {
				rate = fmt.Sprintf("λ_max %.4g -> %.4g, %s", first.TopEigenvalue, lastLambda, rate)
			}
			fmt.Fprintf(stdout, "fullbatch %s from %s: %d steps, test_acc %.4f -> %.4f, grad_norm %.4g -> %.4g, loss %.4g -> %.4g, %s\n",
				method, point, last.Step, first.TestAcc, last.TestAcc, first.GradNorm, last.GradNorm, first.Loss, last.Loss, rate)
		}
	}
	fmt.Fprintf(stdout, "probe directory: %s\n", pf.out)
	return nil
}

func runProbeInterpolate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("probe interpolate", stderr, "probe interpolate --from DIR[:init|final] --to DIR[:init|final] [--range A,B] [--points N] --out DIR\n\n"+
		"Loss and accuracy along (1-α)·from + α·to (with --run DIR alone: from its init to its final weights);\n"+
		"writes probe.json and interpolate.jsonl.")
	var pf probeFlags
	pf.register(fs, false)
	from := fs.String("from", "", "the point at α = 0: a run directory, optionally :init or :final (default final)")
	to := fs.String("to", "", "the point at α = 1: a run directory, optionally :init or :final (default final)")
	run := fs.String("run", "", "shorthand for --from DIR:init --to DIR:final")
	var s analysis.InterpolateSettings
	rng := rangeFlag{&s.Range}
	fs.Var(rng, "range", "interval of α, both ends included (default -0.5,1.5)")
	fs.IntVar(&s.Points, "points", 0, "number of α values (default 21)")
	if err := parseProbeFlags(fs, args); err != nil {
		return err
	}
	if *run != "" {
		if *from != "" || *to != "" {
			return usagef("give either --run or --from and --to")
		}
		*from, *to = *run+":init", *run+":final"
	}
	if *from == "" || *to == "" {
		return usagef("--from DIR[:init|final] and --to DIR[:init|final] are required (or --run DIR)")
	}
	if err := s.Validate(); err != nil {
		return badInput(err)
	}
	a, err := analysis.ParsePoint(*from)
	if err != nil {
		return usagef("--from: %v", err)
	}
	b, err := analysis.ParsePoint(*to)
	if err != nil {
		return usagef("--to: %v", err)
	}
	if samePoint(a, b) {
		return usagef("--from %s and --to %s are the same point: the line between them is that point; give two (e.g. --run DIR for its init and final)", *from, *to)
	}
	configB, err := analysis.CheckPoint(b)
	if err != nil {
		return badInput(err)
	}
	configA, err := analysis.CheckPoint(a)
	if err != nil {
		return badInput(err)
	}
	if da, db := configA.Dataset.Name, configB.Dataset.Name; da != db {
		return usagef("--from %s was trained on %s, --to %s on %s: interpolate between points of one dataset", a.Run, da, b.Run, db)
	}
	backend, ds, err := pf.setup(ctx, fs, a, stderr)
	if err != nil {
		return err
	}
	defer backend.Finalize()
	lines, err := analysis.Interpolate(ctx, backend, a, b, ds, s, pf.out, stderr)
	if err != nil {
		return err
	}
	for _, l := range lines {
		if l.Alpha == 0 || l.Alpha == 1 {
			fmt.Fprintf(stdout, "α=%g: train_acc %.4f test_acc %.4f train_loss %.4g\n", l.Alpha, l.TrainAcc, l.TestAcc, l.TrainLoss)
		}
	}
	fmt.Fprintf(stdout, "interpolate %s -> %s: %d points\nprobe directory: %s\n", a, b, len(lines), pf.out)
	return nil
}

func runProbeSurface(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("probe surface", stderr, "probe surface --run DIR [--directions random|hessian] [--range A,B] [--points N] [--grid N] [--seed S] --out DIR\n\n"+
		"1D and 2D slices of the loss surface around the point along random filter-normalized directions, or the\n"+
		"top two Hessian eigenvectors; writes probe.json, surface1d.jsonl and surface2d.json.")
	var pf probeFlags
	pf.register(fs, true)
	var s analysis.SurfaceSettings
	fs.Var(rangeFlag{&s.Range}, "range", "interval of the coordinates along each direction (default -1,1)")
	fs.IntVar(&s.Points, "points", 0, "points of the 1D slice (default 21)")
	fs.IntVar(&s.Grid, "grid", 0, "points per axis of the 2D slice (default 11: 121 evaluations)")
	fs.Uint64Var(&s.Seed, "seed", 0, "seed of the random directions (hessian: of the Lanczos start vector)")
	fs.StringVar(&s.Directions, "directions", analysis.DirectionsRandom, "random (filter-normalized, each as long as the weights; Li et al. 2018) or hessian (the unit eigenvectors\n"+
		"of the two largest Hessian eigenvalues of the clean loss, by Lanczos: the steepest curvature)")
	point, backend, ds, err := pf.prepare(ctx, fs, args, func() error { return s.Validate() }, stderr) // after parsing: s.Validate would bind s unparsed
	if err != nil {
		return err
	}
	defer backend.Finalize()
	res, err := analysis.Surface(ctx, backend, point, ds, s, pf.out, stderr)
	if err != nil {
		return err
	}
	minLoss, maxLoss := math.Inf(1), math.Inf(-1)
	for _, row := range res.Grid.TrainLoss {
		for _, v := range row {
			minLoss, maxLoss = math.Min(minLoss, float64(v)), math.Max(maxLoss, float64(v))
		}
	}
	fmt.Fprintf(stdout, "surface around %s: %d points on the line, %dx%d grid, train_loss %.4g .. %.4g\nprobe directory: %s\n",
		point, len(res.Line), len(res.Grid.Alphas), len(res.Grid.Betas), minLoss, maxLoss, pf.out)
	return nil
}

func runProbeSharpness(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("probe sharpness", stderr, "probe sharpness --run DIR | --study DIR [--solver lanczos|power] [--top K] [--iterations N] [--samples N] [--density N [--lanczos-steps M]] [--hvp exact|finite-difference] [--epsilon E] [--seed S] --out DIR\n\n"+
		"Top Hessian eigenvalue (Lanczos, or a power iteration) and Hessian trace (Hutchinson) of the clean training loss, and\n"+
		"with --density its eigenvalue density (stochastic Lanczos quadrature); writes probe.json and sharpness.json.\n\n"+
		"With --study DIR instead of --run (a study directory: esp run --out), it measures every finished run of\n"+
		"the study, each into OUT/RUN as --run DIR/runs/RUN --out OUT/RUN would, and prints a line per run, then\n"+
		"per kind the number of points and the medians of the top eigenvalue and the trace, and the Mann-Whitney\n"+
		"rank test of the corrupted runs' points against the normal ones (all of them: esp report's test counts\n"+
		"only the corrupted runs that ended at an extreme point). With --top K (3 or more) it counts each point's\n"+
		"outliers too: the eigenvalues above the largest ratio of neighbours (a C-class net has about C-1), and\n"+
		"tests them the same way. Run again, it keeps the finished probes in OUT and starts interrupted ones again.")
	var pf probeFlags
	pf.register(fs, true)
	study := fs.String("study", "", "study directory (esp run --out): measure every finished run of it, instead of --run")
	fs.Lookup("out").Usage = "probe directory to create (must be new or empty); with --study, the directory of the runs' probes, OUT/RUN (one of the same study resumes)"
	var s analysis.SharpnessSettings
	fs.StringVar(&s.Solver, "solver", "", "top eigenvalue: lanczos (the largest Ritz value) or power (a power iteration, the only solver of earlier versions: the eigenvalue of largest magnitude) (default lanczos)")
	fs.IntVar(&s.Iterations, "iterations", 0, "most Hessian-vector products of the solver: Lanczos steps or power iterations (default 20; with --top K, at least 4K)")
	fs.IntVar(&s.Top, "top", 0, "the K largest eigenvalues, each to the tolerance, with the Lanczos solver (default 1: λ_max alone)")
	fs.Float64Var(&s.Tolerance, "tolerance", 0, "stop when the eigenvalue changes by less than this fraction (default 1e-3)")
	fs.IntVar(&s.TraceSamples, "samples", 0, "Rademacher vectors of the trace estimate (default 10)")
	fs.IntVar(&s.DensityVectors, "density", 0, "random vectors of the eigenvalue density (0, the default: none)")
	fs.IntVar(&s.LanczosSteps, "lanczos-steps", 0, fmt.Sprintf("Lanczos steps (Hessian-vector products) per density vector, at most %d (default 40)", analysis.MaxLanczosSteps))
	fs.StringVar(&s.HVP, "hvp", "", "Hessian-vector products: exact (autodiff twice) or finite-difference (of two gradients) (default exact)")
	fs.Float64Var(&s.Epsilon, "epsilon", 0, "with --hvp finite-difference: its step along a unit direction (default 1e-3)")
	fs.Uint64Var(&s.Seed, "seed", 0, "seed of the random vectors")
	if err := parseProbeFlags(fs, args); err != nil {
		return err
	}
	if err := s.Validate(); err != nil {
		return badInput(err)
	}
	if flagGiven(fs, "lanczos-steps") && s.DensityVectors == 0 {
		return usagef("--lanczos-steps %d without --density: the Lanczos steps are the density's, per random vector; give --density N with it, or leave it out", s.LanczosSteps)
	}
	if flagGiven(fs, "epsilon") && s.WithDefaults().HVP != analysis.HVPFiniteDifference {
		return usagef("--epsilon %g with exact Hessian-vector products: it is the step of --hvp finite-difference; give that with it, or leave it out", s.Epsilon)
	}
	if err := checkSharpnessSource(pf.run, *study); err != nil {
		return err
	}
	if *study != "" {
		return runSharpnessStudy(ctx, fs, &pf, s, *study, stdout, stderr)
	}
	point, err := pf.point()
	if err != nil {
		return err
	}
	backend, ds, err := pf.setup(ctx, fs, point, stderr)
	if err != nil {
		return err
	}
	defer backend.Finalize()
	res, err := analysis.Sharpness(ctx, backend, point, ds, s, pf.out, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, sharpnessLine(point.String(), res))
	if len(res.TopEigenvalues) > 1 {
		values := make([]string, len(res.TopEigenvalues))
		for i, v := range res.TopEigenvalues {
			values[i] = fmt.Sprintf("%.5g", v)
		}
		fmt.Fprintf(stdout, "the %d largest eigenvalues: %s\n", len(values), strings.Join(values, ", "))
		if count, gap, ok := res.Outliers(); ok {
			fmt.Fprintf(stdout, "outliers above the largest gap: %d (λ_%d/λ_%d = %.3g)\n", count, count, count+1, gap)
		}
	}
	if line := res.DensitySummary(); line != "" {
		fmt.Fprintln(stdout, line)
	}
	fmt.Fprintf(stdout, "probe directory: %s\n", pf.out)
	return nil
}

// checkRate refuses a negative or non-finite learning rate flag (0, the flag's default,
// stands for the optimizer's; an explicit 0 is explicitZeroDefault's to refuse).
func checkRate(name string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return usagef("invalid --%s %v: want a finite number > 0 (leave the flag out for the optimizer's default)", name, v)
	}
	return nil
}

// gdStepFlag is a flag.Value for plain GD's step: a learning rate, "auto" for one from
// the curvature at the point (FullBatchSettings.GDAutoLearningRate), or "adaptive" for one
// that follows it along the descent (GDAdaptiveLearningRate).
type gdStepFlag struct{ s *analysis.FullBatchSettings }

func (f gdStepFlag) String() string {
	switch {
	case f.s == nil: // the zero value flag.PrintDefaults compares against
		return "0"
	case f.s.GDAdaptiveLearningRate:
		return "adaptive"
	case f.s.GDAutoLearningRate:
		return "auto"
	}
	return strconv.FormatFloat(f.s.GDLearningRate, 'g', -1, 64)
}

func (f gdStepFlag) Set(v string) error {
	switch v {
	case "auto", "adaptive":
		f.s.GDAutoLearningRate, f.s.GDAdaptiveLearningRate, f.s.GDLearningRate = true, v == "adaptive", 0
		return nil
	}
	rate, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return fmt.Errorf("want a learning rate, auto or adaptive")
	}
	f.s.GDAutoLearningRate, f.s.GDAdaptiveLearningRate, f.s.GDLearningRate = false, false, rate
	return nil
}

// rangeFlag is a flag.Value for "A,B".
type rangeFlag struct{ r *[2]float64 }

func (f rangeFlag) String() string {
	if f.r == nil || *f.r == [2]float64{} {
		return ""
	}
	return fmt.Sprintf("%g,%g", f.r[0], f.r[1])
}

func (f rangeFlag) Set(s string) error {
	parts := strings.Split(s, ",")
	if len(parts) != 2 {
		return fmt.Errorf("want two numbers A,B with A < B")
	}
	var r [2]float64
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("want two numbers A,B with A < B, got %q", s)
		}
		r[i] = v
	}
	if r[0] >= r[1] {
		return fmt.Errorf("want A < B, got %q", s)
	}
	*f.r = r
	return nil
}

// samePoint reports whether a and b are the same weights of the same run directory,
// however their paths are written.
func samePoint(a, b analysis.Point) bool {
	weights := func(p analysis.Point) string { return cmp.Or(p.Weights, "final") }
	if weights(a) != weights(b) {
		return false
	}
	da, errA := os.Stat(a.Run)
	db, errB := os.Stat(b.Run)
	return errA == nil && errB == nil && os.SameFile(da, db)
}
