package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/extremepoints/esp/analysis"
	"github.com/extremepoints/esp/corrupt"
	"github.com/extremepoints/esp/experiment"
)

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", stderr, "run --dataset D --model M --runs N [--epochs E] [--workers W] [--ensemble K | --steps-per-call N] [--shard I/N] --out DIR")
	var tf trainFlags
	tf.register(fs)
	// The single run's flags, as a study takes them.
	fs.Lookup("corrupt").Usage = "the corrupted runs' strategy: " + strings.Join(corrupt.Strategies, ", ") + " (default " + corrupt.WrongUniform + ", the paper's)"
	fs.Lookup("seed").Usage = "base seed: each run's initialization, data order and corruption seeds derive from it"
	fs.Lookup("corrupt-seed").Usage = unlisted // refused below
	runs := fs.Int("runs", 0, "runs of each kind (required)")
	workers := fs.Int("workers", 0, "runs trained at once, each on its own backend (default: one per core on the go backend, 1 on XLA)")
	ensemble := fs.Int("ensemble", 1, "runs of one kind each worker trains together in one compiled graph (for accelerators; results as if trained alone)")
	shard := fs.String("shard", "", "train only shard I of N (I/N, 0-based), for job arrays sharing --out")
	kinds := fs.String("kinds", "normal,corrupted", "kinds of run, comma-separated: normal, corrupted")
	out := fs.String("out", "", "study directory (created; an interrupted study resumes there, and grows with a larger --runs)")
	if rest, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("unexpected arguments %q", rest)
	}
	// Flags of corrupted runs, and of the single run's seeds (a study derives every run's
	// from --seed), change nothing here unless they apply.
	var runErr error
	fs.Visit(func(f *flag.Flag) {
		switch {
		case runErr != nil:
		case f.Name == "corrupt-seed":
			runErr = usagef("--corrupt-seed: a study derives each run's corruption seed from --seed")
		case strings.HasPrefix(f.Name, "corrupt") || f.Name == "copies":
			if !slices.Contains(strings.Split(*kinds, ","), experiment.KindCorrupted) {
				runErr = usagef("--%s is for corrupted runs, but --kinds is %s", f.Name, *kinds)
			}
		}
	})
	if runErr != nil {
		return runErr
	}
	if tf.corruption.strategy == "" {
		tf.corruption.strategy = corrupt.WrongUniform // corrupted runs use the paper's strategy unless told
	}
	settings, cs, _, err := tf.settings(fs)
	if err != nil {
		return err
	}
	if *out == "" {
		return usagef("--out DIR is required")
	}
	if err := experiment.CheckStudyDir(*out); err != nil {
		return err // ErrForeignDir: an input error, exit 2
	}
	if *runs < 1 {
		return usagef("--runs must be a positive count, got %d", *runs)
	}
	if *runs > experiment.MaxStudyRuns {
		return usagef("--runs %d: at most %d runs of each kind", *runs, experiment.MaxStudyRuns)
	}
	workersSet := flagGiven(fs, "workers")
	if workersSet && *workers < 1 {
		return usagef("--workers must be a positive count, got %d (leave it out for one per core)", *workers)
	}
	if *ensemble < 1 {
		return usagef("--ensemble must be a positive count, got %d (1: each run alone)", *ensemble)
	}
	study := experiment.StudySettings{Run: settings, Runs: *runs, Kinds: strings.Split(*kinds, ","),
		Corruption: cs, Seed: tf.seed, Workers: *workers, Ensemble: *ensemble}
	study.Run.Seed = 0 // per run, derived from the study's seed
	study.Corruption.Seed = 0
	if *shard != "" {
		if study.Shard, err = experiment.ParseShard(*shard); err != nil {
			return badInput(err)
		}
	}
	if err := study.Validate(); err != nil {
		return badInput(err)
	}
	ds, err := tf.data.load(ctx, tf.dataset, stderr)
	if err != nil {
		return err
	}
	if slices.Contains(study.Kinds, experiment.KindCorrupted) {
		// The corruption's settings against this data (a fraction that relabels no
		// example, a shift that is a multiple of the classes), before any run starts.
		if err := cs.ValidateFor(ds); err != nil {
			return badInput(err)
		}
	}
	res, err := experiment.RunStudy(ctx, ds, study, *out, stderr)
	if err != nil {
		return interrupted(err, "finished runs are kept, the others resume from their checkpoints")
	}
	fmt.Fprintf(stdout, "%d of %d runs finished (%d trained now) in %s\n", len(res.Finished),
		len(res.Finished)+len(res.Missing), res.Trained, *out)
	for _, kind := range res.SortedKinds() {
		fmt.Fprintln(stdout, kindSummary(kind, res.Finished))
	}
	return nil
}

// kindSummary is one line of esp run's output: the final accuracies of kind's finished
// runs, mean ± std over those that did not diverge, and how many did.
func kindSummary(kind string, finished []experiment.RunResult) string {
	var train, test []float64
	diverged := 0
	for _, f := range finished {
		switch {
		case f.Kind != kind:
		case f.Status != experiment.StatusOK || math.IsNaN(float64(f.Final.TrainAcc)) || math.IsNaN(float64(f.Final.TestAcc)):
			diverged++
		default:
			train, test = append(train, float64(f.Final.TrainAcc)), append(test, float64(f.Final.TestAcc))
		}
	}
	line := fmt.Sprintf("%s: %d runs", kind, len(train))
	if st, err := analysis.Summarize(train); err == nil {
		se, _ := analysis.Summarize(test) // as many values as train, none NaN
		line += fmt.Sprintf(", train_acc %.4f ± %.4f, test_acc %.4f ± %.4f", st.Mean, st.Std, se.Mean, se.Std)
	}
	if diverged > 0 {
		line += fmt.Sprintf(" (%d more diverged)", diverged)
	}
	return line
}
