package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/extremepoints/esp/analysis"
	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/experiment"
	"github.com/extremepoints/esp/models"
)

func runReproduce(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("reproduce", stderr, "reproduce [--scale smoke|quick|paper] [--datasets D,...] [--models M,...] [--workers W] [--ensemble K] [--steps-per-call N] [--point-epochs N] [--sharpness-runs N] --out DIR")
	scale := fs.String("scale", analysis.ScaleSmoke, "scale: "+strings.Join(analysis.Scales, ", "))
	datasetList := fs.String("datasets", "", "these datasets (comma-separated; default: the scale's), each with every model: "+strings.Join(datasets.Names(), ", ")+", or image folders imported with esp data fetch --from")
	modelList := fs.String("models", "", "these models (comma-separated; default: the scale's), each on every dataset: "+strings.Join(models.Names(), ", "))
	workers := fs.Int("workers", 0, "training runs at once (default: chosen for the machine, see esp run)")
	ensemble := fs.Int("ensemble", 1, "runs of one kind each worker trains together in one compiled graph (for a GPU, see esp run)")
	stepsPerCall := fs.Int("steps-per-call", 1, "training steps per call of the compiled graph (for a GPU, see esp train)")
	pointEpochs := fs.Int("point-epochs", 0, "train the probes' starting point apart: each pair's first corrupted run (that did not diverge) trained on to N epochs (default: the scale's; the paper scale's are the authors')")
	sharpnessRuns := fs.Int("sharpness-runs", 0, "measure the sharpness of the first N runs of each kind of every pair, for the report's test of extreme against normal points; 0: none\n"+
		"(default: the scale's: smoke 5, quick every run (8 of the MLPs', 6 of the LeNets'), paper 20)")
	seed := fs.Uint64("seed", 0, "base seed of every run")
	backend := fs.String("backend", os.Getenv("GOMLX_BACKEND"), "compute backend (default $GOMLX_BACKEND, else go)")
	dataDir := fs.String("data-dir", "", "dataset cache directory (default $ESP_DATA_DIR, else "+datasets.UserDataDir()+")")
	out := fs.String("out", "", "directory of the study: runs, probes and report (an interrupted reproduction resumes there)")
	if rest, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("unexpected arguments %q", rest)
	}
	if *out == "" {
		return usagef("--out DIR is required")
	}
	if err := experiment.CheckResumableDir(*out, analysis.StudiesDir, "a reproduction"); err != nil {
		return err
	}
	if err := (&dataFlags{dataDir: *dataDir}).validate(); err != nil {
		return err
	}
	if err := experiment.CheckBackendName(*backend); err != nil {
		return badInput(err) // before the banner, not after it
	}
	if *workers < 0 || (*workers == 0 && flagGiven(fs, "workers")) {
		return usagef("invalid --workers %d: want a positive count (leave the flag out to choose for the machine)", *workers)
	}
	if *ensemble < 1 {
		return usagef("--ensemble must be a positive count, got %d (1: each run alone)", *ensemble)
	}
	if *stepsPerCall < 1 {
		return usagef("--steps-per-call must be a positive count, got %d (1: one step per call)", *stepsPerCall)
	}
	if *ensemble > 1 && *stepsPerCall > 1 {
		return usagef("--ensemble %d and --steps-per-call %d: an ensemble takes one step per call, choose one of the two", *ensemble, *stepsPerCall)
	}
	ds, err := listFlag(fs, "datasets", *datasetList)
	if err != nil {
		return err
	}
	ms, err := listFlag(fs, "models", *modelList)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if err := datasets.Check(d, datasets.Options{DataDir: *dataDir}); err != nil {
			return badInput(err)
		}
	}
	for _, m := range ms {
		if _, err := models.New(m, models.Config{}); err != nil {
			return badInput(err)
		}
	}
	plan, err := analysis.Plan(*scale, ds, ms)
	if err != nil {
		return badInput(err)
	}
	if *pointEpochs < 0 || (*pointEpochs == 0 && flagGiven(fs, "point-epochs")) {
		return usagef("invalid --point-epochs %d: want a count of epochs (leave the flag out for the scale's)", *pointEpochs)
	}
	if err := plan.SetPointEpochs(*pointEpochs); err != nil {
		return badInput(err)
	}
	if *sharpnessRuns < 0 {
		return usagef("invalid --sharpness-runs %d: want 0 (none) or a count of runs of each kind", *sharpnessRuns)
	}
	if flagGiven(fs, "sharpness-runs") && *sharpnessRuns == 0 {
		*sharpnessRuns = -1 // analysis.ReproduceSettings: none; its 0 is the scale's
	}
	pairs := make([]string, len(plan.Pairs))
	for i, pair := range plan.Pairs {
		pairs[i] = fmt.Sprintf("%s %d+%d runs", pair, plan.RunsOf(pair), plan.RunsOf(pair))
	}
	fmt.Fprintf(stderr, "reproduce at scale %s: %s -> %s\n", plan.Name, strings.Join(pairs, ", "), *out)
	start := time.Now()
	rep, err := analysis.Reproduce(ctx, analysis.ReproduceSettings{Scale: *scale, Datasets: ds, Models: ms, Workers: *workers,
		Ensemble: *ensemble, StepsPerCall: *stepsPerCall, Backend: *backend, PointEpochs: *pointEpochs, SharpnessRuns: *sharpnessRuns, Seed: *seed, Data: datasets.Options{DataDir: *dataDir, Progress: stderr}}, *out, stderr)
	if err != nil {
		return interrupted(err, "finished runs and probes are kept, interrupted runs resume from their checkpoints")
	}
	held := printClaims(stdout, rep)
	fmt.Fprintf(stdout, "%d of %d claims hold; %s; report: %s\n", held, len(rep.Summary.Claims),
		time.Since(start).Round(time.Second), filepath.Join(*out, "report", "index.html"))
	return nil
}

// listFlag splits the comma-separated names of flag name (nil: not given, the scale's),
// refusing an empty list or name and a name given twice.
func listFlag(fs *flag.FlagSet, name, value string) ([]string, error) {
	if value == "" && !flagGiven(fs, name) {
		return nil, nil
	}
	names := strings.Split(value, ",")
	for i, n := range names {
		if n == "" {
			return nil, usagef("--%s %q: an empty name (leave the flag out for the scale's)", name, value)
		}
		if slices.Contains(names[:i], n) {
			return nil, usagef("--%s %q: %s is given twice", name, value, n)
		}
	}
	return names, nil
}
