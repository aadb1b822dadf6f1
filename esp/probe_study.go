package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomlx/compute"

	"github.com/extremepoints/esp/analysis"
	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/experiment"
)

// The batch mode of the sharpness probe (esp probe sharpness --study DIR): the sharpness
// of every finished run of a study, so that extreme (corrupted) and normal points are
// compared as samples, with a rank test, not as one point of each kind.

// sharpnessProbe is the probe's kind, as probe.json records it.
const sharpnessProbe = "sharpness"

// checkSharpnessSource refuses --run and --study together, or neither: the probe measures
// one run or every run of a study.
func checkSharpnessSource(run, study string) error {
	switch {
	case run != "" && study != "":
		return usagef("--run and --study: give --run DIR for one run or --study DIR for every run of a study, not both")
	case run == "" && study == "":
		return usagef("--run DIR (one run) or --study DIR (every finished run of a study) is required")
	}
	return nil
}

// sharpnessLine is the line of stdout of one measured point, named name (the point, or in
// a batch the run's name), in one format for both modes so that one pattern reads both.
func sharpnessLine(name string, res *analysis.SharpnessResult) string {
	return fmt.Sprintf("sharpness at %s: top eigenvalue %.5g (%s), trace %s on %d examples",
		name, res.TopEigenvalue, res.ConvergenceNote(), res.TraceText(), res.Examples)
}

// studyPoint is a finished run of a study to measure, and its probe directory.
type studyPoint struct {
	name  string // the run's directory name, e.g. normal-0003
	kind  string // experiment.KindNormal or KindCorrupted
	point analysis.Point
	dir   string // --out/name
}

// batchProbe is a study point ready for the batch: its data, and a finished probe's result
// (kept) or an interrupted probe (again) found in its directory.
type batchProbe struct {
	studyPoint
	ds    *datasets.Dataset
	kept  *analysis.SharpnessResult
	again bool
}

// runSharpnessStudy is esp probe sharpness --study DIR: every check (the study, the output
// directory, the finished probes kept, each run's weights and data) comes before the first
// measurement, so that a refused batch has written nothing.
func runSharpnessStudy(ctx context.Context, fs *flag.FlagSet, pf *probeFlags, s analysis.SharpnessSettings, studyDir string, stdout, stderr io.Writer) error {
	if err := pf.data.validate(); err != nil {
		return err
	}
	if pf.out == "" {
		return usagef("--out DIR is required: the probe of each run of the study goes to DIR/RUN")
	}
	if err := pf.checkWeights(); err != nil {
		return err
	}
	study, err := loadStudyDir(studyDir)
	if err != nil {
		return err
	}
	found, err := scanStudyOut(pf.out, study)
	if err != nil {
		return err
	}
	points := studyPoints(study, pf.weights, pf.out, stderr)
	s = s.WithDefaults() // as probe.json records them, to compare with the kept probes'
	batch, err := prepareBatch(ctx, points, found, s, pf.weights, newPointData(pf.data, flagGiven(fs, "subset")), stderr)
	if err != nil {
		return err
	}
	results, err := measureBatch(ctx, pf.backend, batch, s, pf.weights, stdout, stderr)
	if err != nil {
		return interrupted(err, "the finished probes are kept, the interrupted one starts again")
	}
	measured := 0
	for _, b := range batch {
		if b.kept == nil {
			measured++
		}
	}
	fmt.Fprintf(stdout, "sharpness of %d of %d runs (%d measured now, %d kept) in %s\n",
		len(batch), len(study.Finished)+len(study.Missing), measured, len(batch)-measured, pf.out)
	for _, line := range batchSummary(studyKinds(study.Settings), batch, results) {
		fmt.Fprintln(stdout, line)
	}
	return nil
}

// loadStudyDir reads the study --study names. A directory without study.json is not one (a
// run directory, a reproduction's top): exit 2, naming what is.
func loadStudyDir(dir string) (*experiment.StudyResult, error) {
	if _, err := os.Stat(filepath.Join(dir, experiment.StudyFile)); err != nil {
		hint := "esp run --out DIR makes one; a reproduction's are OUT/studies/PAIR"
		if _, err := os.Stat(filepath.Join(dir, experiment.ConfigFile)); err == nil {
			hint = "it is a run directory: give it with --run"
		}
		return nil, usagef("--study %s is not a study directory: it has no %s (%s)", dir, experiment.StudyFile, hint)
	}
	study, err := experiment.LoadStudy(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the study %s: %w", dir, err)
	}
	return study, nil
}

// studyKinds returns the kinds of run of a study, in its order (normal first).
func studyKinds(s experiment.StudySettings) []string {
	if len(s.Kinds) == 0 {
		return []string{experiment.KindNormal, experiment.KindCorrupted}
	}
	return s.Kinds
}

// studyPoints returns the study's runs to measure, in the study's order, with their probe
// directories in out. It says on stderr which runs it skips: those whose training has not
// finished, and for their final weights those that diverged (no finite weights).
func studyPoints(study *experiment.StudyResult, weights, out string, stderr io.Writer) []studyPoint {
	for _, r := range study.Missing {
		fmt.Fprintf(stderr, "skipping %s: its training has not finished (esp run --out %s resumes it)\n", r.Name(), study.Dir)
	}
	var points []studyPoint
	for _, r := range study.Finished {
		name := r.Name()
		if r.Status != experiment.StatusOK && weights == "final" {
			fmt.Fprintf(stderr, "skipping %s: it %s, its final weights are not a point to measure\n", name, r.Status)
			continue
		}
		points = append(points, studyPoint{name: name, kind: r.Kind, dir: filepath.Join(out, name),
			point: analysis.Point{Run: filepath.Join(study.Dir, experiment.RunsDir, name), Weights: weights}})
	}
	return points
}

// scanStudyOut checks the batch's output directory before anything is written there. It
// may hold only the probe directories of the study's runs (named as the runs), each empty
// or holding a sharpness probe from that run. Anything else, a file or a probe started from
// another study's run, is refused (ErrForeignDir): it is not this batch's, and nothing
// saved is overwritten. It returns the probe.json of each probe found, by run name.
func scanStudyOut(out string, study *experiment.StudyResult) (map[string]*analysis.ProbeInfo, error) {
	found := map[string]*analysis.ProbeInfo{}
	entries, err := os.ReadDir(out)
	if errors.Is(err, os.ErrNotExist) {
		return found, nil
	}
	if err != nil {
		return nil, foreignOut("--out %s is not a directory of probes: %v", out, err)
	}
	runs := map[string]bool{}
	for _, r := range study.Settings.Plan() {
		runs[r.Name()] = true
	}
	for _, e := range entries {
		dir := filepath.Join(out, e.Name())
		if !e.IsDir() || !runs[e.Name()] {
			return nil, foreignOut("%s holds %s, which is not the probe of a run of the study %s", out, e.Name(), study.Dir)
		}
		info, err := probeOfRun(dir, filepath.Join(study.Dir, experiment.RunsDir, e.Name()))
		if err != nil {
			return nil, err
		}
		if info != nil {
			found[e.Name()] = info
		}
	}
	return found, nil
}

// probeFiles are the files a sharpness probe directory holds (beside the temporary files
// of an interrupted write, named .tmp-*).
var probeFiles = map[string]bool{analysis.ProbeInfoFile: true, analysis.SharpnessFile: true}

// probeOfRun returns the probe.json of the sharpness probe in dir, which must have started
// from the run directory run; nil for an empty dir. Anything else in dir is refused.
func probeOfRun(dir, run string) (*analysis.ProbeInfo, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	if len(entries) == 0 {
		return nil, nil
	}
	for _, e := range entries {
		if e.IsDir() || !probeFiles[e.Name()] && !strings.HasPrefix(e.Name(), ".tmp-") {
			return nil, foreignOut("%s holds %s, which a sharpness probe does not write", dir, e.Name())
		}
	}
	info, err := analysis.ReadProbeInfo(dir)
	if err != nil {
		return nil, foreignOut("%s holds no readable %s (%v)", dir, analysis.ProbeInfoFile, err)
	}
	if info.Probe != sharpnessProbe {
		return nil, foreignOut("%s holds a %s probe, not a sharpness one", dir, info.Probe)
	}
	if !info.StartedFrom(dir, run) {
		from := info.Run
		if from == "" {
			from = info.From
		}
		return nil, foreignOut("%s holds a sharpness probe from %s, not from the study's run %s (another study's?)", dir, from, run)
	}
	return info, nil
}

// foreignOut is the error for a batch's --out holding what the batch did not write.
func foreignOut(format string, args ...any) error {
	return fmt.Errorf("%w: %s: choose a new --out (nothing there is overwritten)", experiment.ErrForeignDir, fmt.Sprintf(format, args...))
}

// prepareBatch checks each point and loads its data (each dataset once): a finished probe
// in its directory is kept, once checked to be of the same weights, settings and data as
// the batch would measure (a batch mixing two settings would compare apples and pears); an
// interrupted one is marked to start again.
func prepareBatch(ctx context.Context, points []studyPoint, found map[string]*analysis.ProbeInfo, s analysis.SharpnessSettings,
	weights string, data *pointData, stderr io.Writer) ([]batchProbe, error) {
	batch := make([]batchProbe, 0, len(points))
	for _, p := range points {
		b := batchProbe{studyPoint: p}
		info := found[p.name]
		var config *experiment.RunConfig
		var err error
		if info != nil && info.Finished != nil {
			if b.kept, err = keptProbe(p, info, s, weights); err != nil {
				return nil, err
			}
			config, err = analysis.LoadRunConfig(p.point.Run)
		} else {
			b.again = info != nil
			config, err = analysis.CheckPoint(p.point)
		}
		if err != nil {
			return nil, badInput(fmt.Errorf("%s: %w", p.name, err))
		}
		if b.ds, err = data.of(ctx, p.point.Run, config, stderr); err != nil {
			return nil, err
		}
		if b.kept != nil {
			if err := sameProbeData(p.dir, info.Dataset, b.ds); err != nil {
				return nil, err
			}
		}
		batch = append(batch, b)
	}
	return batch, nil
}

// keptProbe checks the finished probe in p.dir (info its probe.json) against what the batch
// would measure, and returns its result. A probe of other weights (the run trained again
// since, or --weights changed) or of other settings is refused: delete it, or choose
// another --out.
func keptProbe(p studyPoint, info *analysis.ProbeInfo, s analysis.SharpnessSettings, weights string) (*analysis.SharpnessResult, error) {
	refuse := func(format string, args ...any) error {
		return usagef("%s: %s: run the batch with the flags it was started with, delete %s to measure the run again, or choose a new --out (nothing saved is overwritten)",
			p.dir, fmt.Sprintf(format, args...), p.dir)
	}
	if info.Weights != weights {
		return nil, refuse("it measured the %s weights of %s, this batch measures the %s ones", info.Weights, p.point.Run, weights)
	}
	if info.RunSHA256 != "" {
		meta, err := experiment.ReadWeightsMetadata(p.point.WeightsPath())
		if err != nil {
			return nil, badInput(fmt.Errorf("%s: %w", p.name, err))
		}
		if now := meta[experiment.WeightsChecksumKey]; now != info.RunSHA256 {
			return nil, refuse("it measured weights of sha256 %s, %s now holds %s (trained again?)", info.RunSHA256, p.point.WeightsPath(), now)
		}
	}
	recorded, err := recordedSharpnessSettings(info)
	if err != nil {
		return nil, refuse("%v", err)
	}
	if recorded != s {
		return nil, refuse("it was measured with other settings: %s", strings.Join(settingsDiff(recorded, s), ", "))
	}
	res, err := readSharpnessResult(p.dir)
	if err != nil {
		return nil, refuse("%v", err)
	}
	return res, nil
}

// recordedSharpnessSettings returns the settings probe.json records (defaults filled in).
func recordedSharpnessSettings(info *analysis.ProbeInfo) (analysis.SharpnessSettings, error) {
	var s analysis.SharpnessSettings
	data, err := json.Marshal(info.Settings)
	if err == nil {
		err = json.Unmarshal(data, &s)
	}
	if err != nil {
		return s, fmt.Errorf("its %s holds no sharpness settings: %w", analysis.ProbeInfoFile, err)
	}
	if info.Settings != nil && s.Solver == "" { // recorded before there was a choice
		s.Solver = analysis.SolverPower
	}
	return s, nil
}

// settingsDiff names the settings that differ between was (a kept probe's) and now (the
// batch's), by their probe.json names: "iterations 10 (this batch: 20)".
func settingsDiff(was, now analysis.SharpnessSettings) []string {
	a, b := settingsFields(was), settingsFields(now)
	union := maps.Clone(a)
	maps.Copy(union, b)
	var diff []string
	for _, k := range slices.Sorted(maps.Keys(union)) {
		if a[k] != b[k] {
			diff = append(diff, fmt.Sprintf("%s %s (this batch: %s)", k, orNone(a[k]), orNone(b[k])))
		}
	}
	return diff
}

// settingsFields returns the fields of s as probe.json writes them, each as JSON text.
func settingsFields(s analysis.SharpnessSettings) map[string]string {
	data, _ := json.Marshal(s) // numbers and strings: no error
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(data, &fields)
	out := make(map[string]string, len(fields))
	for k, v := range fields {
		out[k] = string(v)
	}
	return out
}

// orNone returns s, or "none" for a setting left out (a zero value probe.json omits).
func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// readSharpnessResult reads the sharpness.json of the probe directory dir.
func readSharpnessResult(dir string) (*analysis.SharpnessResult, error) {
	path := filepath.Join(dir, analysis.SharpnessFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var res analysis.SharpnessResult
	if err := json.Unmarshal(data, &res); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &res, nil
}

// sameProbeData refuses a kept probe (in dir) measured on other examples than ds: another
// --subset than the batch's.
func sameProbeData(dir string, was analysis.ProbeDataset, ds *datasets.Dataset) error {
	if was.Name == ds.Name && was.Train == ds.Train.Len() && was.Test == ds.Test.Len() {
		return nil
	}
	return usagef("%s: it was measured on %d training and %d test examples of %s, this batch uses %d and %d of %s (another --subset?): "+
		"run the batch with the flags it was started with, or choose a new --out (nothing saved is overwritten)",
		dir, was.Train, was.Test, was.Name, ds.Train.Len(), ds.Test.Len(), ds.Name)
}

// measureBatch measures the points not kept, in order, printing the line of every point
// (kept or measured) as it comes; it returns the results, one per probe of batch.
func measureBatch(ctx context.Context, backendName string, batch []batchProbe, s analysis.SharpnessSettings, weights string,
	stdout, stderr io.Writer) ([]*analysis.SharpnessResult, error) {
	var release func()
	defer func() {
		if release != nil {
			release()
		}
	}()
	backend, results := compute.Backend(nil), make([]*analysis.SharpnessResult, 0, len(batch))
	for i, b := range batch {
		res := b.kept
		if res != nil {
			fmt.Fprintf(stderr, "%s: keeping the finished sharpness probe in %s\n", b.name, b.dir)
		} else {
			if backend == nil { // only when there is something to measure
				nb, err := experiment.NewBackend(backendName)
				if err != nil {
					return nil, err
				}
				backend, release = nb, nb.Finalize
			}
			var err error
			if res, err = measurePoint(ctx, backend, b, s, fmt.Sprintf("[%d/%d]", i+1, len(batch)), stderr); err != nil {
				return nil, err
			}
		}
		fmt.Fprintln(stdout, sharpnessLine(pointLabel(b.name, weights), res))
		results = append(results, res)
	}
	return results, nil
}

// measurePoint measures one point into its directory, replacing an interrupted probe there.
func measurePoint(ctx context.Context, backend compute.Backend, b batchProbe, s analysis.SharpnessSettings, step string, stderr io.Writer) (*analysis.SharpnessResult, error) {
	if b.again {
		if err := removeUnfinishedProbe(b.dir, sharpnessProbe, b.point.Run, stderr); err != nil {
			return nil, fmt.Errorf("%s: %w", b.name, err)
		}
	}
	fmt.Fprintf(stderr, "%s sharpness of %s into %s\n", step, b.name, b.dir)
	res, err := analysis.Sharpness(ctx, backend, b.point, b.ds, s, b.dir, stderr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.name, err)
	}
	return res, nil
}

// pointLabel names a study's run in the batch's lines: its name, with :init for its
// initial weights.
func pointLabel(name, weights string) string {
	if weights == "init" {
		return name + ":init"
	}
	return name
}

// kindValues are the finite top eigenvalues and traces of one kind's points, and how many
// points it has (a value that is not finite is left out of the medians and the test); with
// --top K, the counts of outliers and their gaps, of the points that have them
// (SharpnessResult.Outliers).
type kindValues struct {
	points                int
	lambdas, traces       []float64
	outliers, outlierGaps []float64
}

// batchSummary returns the summary lines of a batch: one per kind of the study, then the
// rank tests of the corrupted runs' points (all, at an extreme point or not) against the normal ones.
func batchSummary(kinds []string, batch []batchProbe, results []*analysis.SharpnessResult) []string {
	byKind := map[string]*kindValues{}
	for _, k := range kinds {
		byKind[k] = &kindValues{}
	}
	for i, b := range batch {
		v := byKind[b.kind]
		if v == nil {
			continue // a kind the study does not list: none
		}
		v.points++
		v.lambdas = appendFinite(v.lambdas, float64(results[i].TopEigenvalue))
		v.traces = appendFinite(v.traces, float64(results[i].Trace))
		if count, gap, ok := results[i].Outliers(); ok {
			v.outliers, v.outlierGaps = append(v.outliers, float64(count)), append(v.outlierGaps, gap)
		}
	}
	var lines []string
	for _, k := range kinds {
		lines = append(lines, kindSharpnessLine(k, byKind[k]))
	}
	extreme, normal := byKind[experiment.KindCorrupted], byKind[experiment.KindNormal]
	if extreme == nil {
		extreme = &kindValues{}
	}
	if normal == nil {
		normal = &kindValues{}
	}
	lines = append(lines, rankTestLine("top eigenvalue", extreme.lambdas, normal.lambdas),
		rankTestLine("trace", extreme.traces, normal.traces))
	if len(extreme.outliers)+len(normal.outliers) > 0 { // --top K found 3 or more
		lines = append(lines, rankTestLine("outliers", extreme.outliers, normal.outliers),
			rankTestLine("outlier gap", extreme.outlierGaps, normal.outlierGaps))
	}
	return lines
}

// appendFinite appends v to values if it is finite.
func appendFinite(values []float64, v float64) []float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return values
	}
	return append(values, v)
}

// kindSharpnessLine is the summary line of one kind: its points, and the medians of their
// top eigenvalues and traces (the median, not the mean: a solver that did not
// converge can leave one point far out).
func kindSharpnessLine(kind string, v *kindValues) string {
	line := fmt.Sprintf("summary %s: %d points", kind, v.points)
	for _, q := range []struct {
		name   string
		values []float64
	}{{"top eigenvalue", v.lambdas}, {"trace", v.traces}} {
		if s, err := analysis.Summarize(q.values); err == nil {
			line += fmt.Sprintf(", median %s %.5g", q.name, s.Median)
		}
		if left := v.points - len(q.values); left > 0 {
			line += fmt.Sprintf(" (%d %s not finite, left out)", left, q.name)
		}
	}
	counts, errCounts := analysis.Summarize(v.outliers)
	if gaps, errGaps := analysis.Summarize(v.outlierGaps); errCounts == nil && errGaps == nil {
		line += fmt.Sprintf(", median outliers %.5g above a gap of %.3gx", counts.Median, gaps.Median)
		if left := v.points - len(v.outliers); left > 0 {
			line += fmt.Sprintf(" (%d without 3 positive eigenvalues, left out)", left)
		}
	}
	return line
}

// rankTestLine is the Mann-Whitney rank test of quantity between the extreme (corrupted)
// and the normal points: the probability that an extreme point's value exceeds a normal
// one's, its two-sided p-value, and the smallest p-value so many points can give at all
// (3 against 3 never go below 0.1), so that a p above 0.05 from few runs is read as what
// it is. It needs 2 points of each kind.
func rankTestLine(quantity string, extreme, normal []float64) string {
	prefix := fmt.Sprintf("rank test %s: ", quantity)
	if len(extreme) < 2 || len(normal) < 2 {
		return prefix + fmt.Sprintf("not done: it needs 2 points of each kind, there are %d corrupted and %d normal", len(extreme), len(normal))
	}
	t, err := analysis.MannWhitneyU(extreme, normal)
	if err != nil {
		return prefix + fmt.Sprintf("not done: %v", err)
	}
	how := "normal approximation"
	if t.Exact {
		how = "exact"
	}
	return prefix + fmt.Sprintf("P(corrupted > normal) %.3g, p %.3g (%s; at best %.3g with %d corrupted and %d normal points)",
		t.Effect, t.P, how, analysis.SmallestRankP(len(extreme), len(normal)), len(extreme), len(normal))
}
