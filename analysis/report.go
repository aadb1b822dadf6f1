package analysis

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/experiment"
)

var nan = math.NaN()

// ReportSettings holds the thresholds with which the report decides the paper's claims.
// The zero value of each field is its documented default.
type ReportSettings struct {
	// ExtremeTrainAcc is the clean-training accuracy a corrupted run must reach to count as
	// an extreme point ("~100%"). Default 0.95.
	ExtremeTrainAcc float64
	// ExtremeTestAcc is the test accuracy it must stay under ("~0%"). Default 0.05.
	ExtremeTestAcc float64
	// Alpha is the significance level of the rank test (C3). Default 0.01.
	Alpha float64
	// GeneralizeFraction: a point "generalizes" (C2, C5) when its test accuracy is at least
	// this fraction of the normal runs' mean test accuracy (C2: of its own train
	// accuracy). Default 0.8.
	GeneralizeFraction float64
	// GradientDrop: full-batch descent reaches "~0" gradient norm (C6) when the last norm is
	// at most this fraction of the first. Default 0.1.
	GradientDrop float64
	// Generated is written into the report; zero means now.
	Generated time.Time
}

func (s ReportSettings) withDefaults() ReportSettings {
	if s.ExtremeTrainAcc == 0 {
		s.ExtremeTrainAcc = 0.95
	}
	if s.ExtremeTestAcc == 0 {
		s.ExtremeTestAcc = 0.05
	}
	if s.Alpha == 0 {
		s.Alpha = 0.01
	}
	if s.GeneralizeFraction == 0 {
		s.GeneralizeFraction = 0.8
	}
	if s.GradientDrop == 0 {
		s.GradientDrop = 0.1
	}
	if s.Generated.IsZero() {
		s.Generated = time.Now().UTC().Truncate(time.Second)
	}
	return s
}

// Claim is the verdict on one of the paper's claims for one (dataset, model).
type Claim struct {
	ID       string         `json:"id"`
	Text     string         `json:"claim"`
	Dataset  string         `json:"dataset"`
	Model    string         `json:"model"`
	Holds    bool           `json:"holds"`
	Evidence map[string]any `json:"evidence"`
}

// Untested names a claim the inputs hold no evidence for, and why.
type Untested struct {
	ID      string `json:"id"`
	Dataset string `json:"dataset,omitempty"`
	Model   string `json:"model,omitempty"`
	Reason  string `json:"reason"`
}

// ClaimTexts are the paper's claims as the report checks them.
var ClaimTexts = map[string]string{
	"C1": "corrupted training reaches ~100% accuracy on the clean training part and ~0% on the test set",
	"C2": "the same architecture trained normally generalizes",
	"C3": "extreme points lie farther from their initialization than normal points after the same epochs",
	"C4": "L2 regularization does not prevent reaching an extreme point",
	"C5": "minibatch descent restarted from an extreme point on clean data escapes to a point that generalizes",
	"C6": "full-batch descent restarted from an extreme point on clean data stays at low test accuracy while the gradient norm goes to ~0",
	"C7": "ResNet reaches the extreme point in fewer epochs than the MLP",
}

// GroupStats summarizes the final metrics of one kind of run of one (dataset, model).
type GroupStats struct {
	Runs int `json:"runs"`
	// Diverged counts the runs that diverged: the summaries leave them out.
	Diverged int `json:"diverged,omitempty"`
	// Epochs is the last epoch of the runs that did not diverge; EpochsDiffer says they
	// ended at different epochs (Epochs is then the latest).
	Epochs          int      `json:"epochs"`
	EpochsDiffer    bool     `json:"epochs_differ,omitempty"`
	TrainAcc        *Summary `json:"train_acc,omitempty"`
	TestAcc         *Summary `json:"test_acc,omitempty"`
	CorruptedAcc    *Summary `json:"corrupted_acc,omitempty"`
	WeightNorm      *Summary `json:"weight_norm,omitempty"`
	WeightNormSum   *Summary `json:"weight_norm_sum,omitempty"`
	DistFromInit    *Summary `json:"dist_from_init,omitempty"`
	DistFromInitSum *Summary `json:"dist_from_init_sum,omitempty"`
	// EpochsToExtreme summarizes, over corrupted runs, the first epoch at which the run was
	// an extreme point (runs that never were are left out and counted in NeverExtreme).
	EpochsToExtreme *Summary `json:"epochs_to_extreme,omitempty"`
	NeverExtreme    int      `json:"never_extreme,omitempty"`
}

// ReportSummaryFile is the name of the report's summary, in the report's directory.
const ReportSummaryFile = "summary.json"

// ReportSummary is the report's summary.json.
type ReportSummary struct {
	Format    string                           `json:"format"`
	Generated time.Time                        `json:"generated"`
	Input     string                           `json:"input"`
	Claims    []Claim                          `json:"claims"`
	Untested  []Untested                       `json:"untested"`
	Groups    map[string]map[string]GroupStats `json:"groups"` // "dataset/model" -> kind -> stats
	Authors   map[string]AuthorsFigures        `json:"authors"`
	Figures   []string                         `json:"figures"`
	Runs      int                              `json:"runs"`
	Probes    int                              `json:"probes"`
	// Sharpness compares normal and extreme points wherever sharpness probes measured
	// both kinds.
	Sharpness []SharpnessComparison `json:"sharpness,omitempty"`
	// IncompleteStudies lists the studies under the input that hold fewer runs than they
	// plan (shards still running, or interrupted): the claims read the runs present.
	IncompleteStudies []StudyPresence `json:"incomplete_studies,omitempty"`
}

// SharpnessComparison sets the sharpness of a dataset and model's normal points beside
// its extreme points': the sharpness probes of runs' final weights (each run once, and
// within one weight decay), an extreme point being a corrupted run that ended at one
// (ReportSettings.ExtremeTrainAcc, ExtremeTestAcc).
type SharpnessComparison struct {
	Dataset     string  `json:"dataset"`
	Model       string  `json:"model"`
	WeightDecay float64 `json:"weight_decay,omitempty"`
	// HVP is the Hessian-vector products of the probes compared (HVPExact, or
	// HVPFiniteDifference, as sharpness.json without "hvp" has them): probes of the two
	// are compared apart.
	HVP string `json:"hvp"`
	// TopEigenvalue and Trace summarize each kind's probes and, with two points of each
	// kind or more, test them: Mann-Whitney U of the extreme points against the normal.
	TopEigenvalue SharpnessTest `json:"top_eigenvalue"`
	Trace         SharpnessTest `json:"trace"`
	// Outliers compares the counts of eigenvalues standing above the largest gap among
	// each point's largest (SharpnessResult.Outliers; about C − 1 for C classes), and
	// OutlierGap that gap, the ratio of the neighbours either side: how clearly the
	// outliers stand out of the bulk. Both of the points whose probes found three or more
	// (esp probe sharpness --top K), where both kinds have one.
	Outliers   *SharpnessTest `json:"outliers,omitempty"`
	OutlierGap *SharpnessTest `json:"outlier_gap,omitempty"`
	// NotConverged counts the probes whose solver did not converge: their
	// λ_max is a lower bound.
	NotConverged int `json:"not_converged,omitempty"`
	// Note says why none of the tests were made: the runs trained differently.
	Note string `json:"note,omitempty"`
	// OutliersNote says why the outliers were not compared: probes that looked for
	// different numbers of eigenvalues (--top), each count capped by its own.
	OutliersNote string `json:"outliers_note,omitempty"`
}

// SharpnessTest is one sharpness measure of a SharpnessComparison.
type SharpnessTest struct {
	Normal  *Summary  `json:"normal"`
	Extreme *Summary  `json:"extreme"`
	Test    *RankTest `json:"mann_whitney,omitempty"`
}

// ReportFormat is the format tag of summary.json.
const ReportFormat = "esp-report/1"

// groupKey identifies the runs that are compared with each other.
type groupKey struct {
	Dataset, Model string
	WeightDecay    float64
}

func (k groupKey) name() string { return k.Dataset + "/" + k.Model }

// decayName is name, with the weight decay where there is one: "mnist/mlp (λ=0.0001)".
func (k groupKey) decayName() string {
	if k.WeightDecay != 0 {
		return fmt.Sprintf("%s (λ=%g)", k.name(), k.WeightDecay)
	}
	return k.name()
}
func (k groupKey) slug() string { return slug(k.Dataset + "-" + k.Model) }

func slug(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return '-'
	}, s)
}

type group struct {
	key       groupKey
	normal    []*RunRecord
	corrupted []*RunRecord
	mixed     string // mixedRecipes, once for the claims and the figures
}

func groupRuns(runs []*RunRecord) map[groupKey]*group {
	groups := map[groupKey]*group{}
	for _, r := range runs {
		k := groupKey{r.Config.Dataset.Name, r.Config.Settings.Model, r.Config.Settings.WeightDecay}
		g := groups[k]
		if g == nil {
			g = &group{key: k}
			groups[k] = g
		}
		if r.Corrupted() {
			g.corrupted = append(g.corrupted, r)
		} else {
			g.normal = append(g.normal, r)
		}
	}
	for _, g := range groups {
		g.mixed = g.mixedRecipes()
	}
	return groups
}

// mixedRecipes says how the runs of g were trained differently ("" if alike): every run
// of a group must share the training recipe (examples of each split, model configuration, optimizer,
// batch size, epochs), and its corrupted runs the corruption (but its seed), for the
// group's claims to compare like with like. Runs of separate studies under one input may
// not.
func (g *group) mixedRecipes() string {
	// recipe lists "name value" of each setting that must agree.
	recipe := func(r *RunRecord, withCorruption bool) []string {
		s, d := r.Config.Settings, r.Config.Dataset
		// The examples each split held, not --subset: a subset as large as the dataset
		// takes all of it, as no subset does.
		examples := struct {
			Train int `json:"train"`
			Test  int `json:"test"`
		}{d.Train, d.Test}
		fields := []any{"examples", examples, "model_config", s.ModelConfig, "optimizer", s.Optimizer,
			"batch_size", s.BatchSize, "epochs", s.Epochs}
		if withCorruption {
			c := s.Corruption
			c.Seed = 0
			fields = append(fields, "corruption", c)
		}
		var out []string
		for i := 0; i < len(fields); i += 2 {
			data, _ := json.Marshal(fields[i+1])
			out = append(out, fmt.Sprintf("%s %s", fields[i], data))
		}
		return out
	}
	differ := func(a, b *RunRecord, withCorruption bool) string {
		ra, rb := recipe(a, withCorruption), recipe(b, withCorruption)
		for i := range ra {
			if ra[i] != rb[i] {
				return fmt.Sprintf("%s has %s, %s has %s", a.Dir, ra[i], b.Dir, rb[i])
			}
		}
		return ""
	}
	all := append(slices.Clone(g.normal), g.corrupted...)
	for _, r := range all[1:] {
		if d := differ(all[0], r, false); d != "" {
			return d
		}
	}
	for _, r := range g.corrupted[min(1, len(g.corrupted)):] {
		if d := differ(g.corrupted[0], r, true); d != "" {
			return d
		}
	}
	return ""
}

// sortedKeys returns the keys of m by dataset, model and weight decay.
func sortedKeys[V any](m map[groupKey]V) []groupKey {
	keys := make([]groupKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.Dataset != b.Dataset {
			return a.Dataset < b.Dataset
		}
		if a.Model != b.Model {
			return a.Model < b.Model
		}
		return a.WeightDecay < b.WeightDecay
	})
	return keys
}

// finals extracts one final metric of each run that did not diverge.
func finals(runs []*RunRecord, metric func(f finalMetrics) float64) []float64 {
	var out []float64
	for _, r := range runs {
		if diverged(r) {
			continue
		}
		if v := metric(finalOf(r)); !math.IsNaN(v) {
			out = append(out, v)
		}
	}
	return out
}

// finalMetrics is a run's last epoch as plain numbers (NaN when absent).
type finalMetrics struct {
	TrainAcc, TestAcc, CorruptedAcc, WeightNorm, WeightNormSum, DistFromInit, DistFromInitSum float64
	Epoch                                                                                     int
}

func finalOf(r *RunRecord) finalMetrics {
	m := r.Final()
	f := finalMetrics{TrainAcc: float64(m.TrainAcc), TestAcc: float64(m.TestAcc), CorruptedAcc: nan,
		WeightNorm: float64(m.WeightNorm), WeightNormSum: float64(m.WeightNormSum),
		DistFromInit: float64(m.DistFromInit), DistFromInitSum: float64(m.DistFromInitSum), Epoch: m.Epoch}
	if m.CorruptedAcc != nil {
		f.CorruptedAcc = float64(*m.CorruptedAcc)
	}
	return f
}

func summaryOf(values []float64) *Summary {
	s, err := Summarize(values)
	if err != nil {
		return nil
	}
	return &s
}

// atExtreme reports whether accuracies train (on the clean training set) and test are
// those of an extreme point.
func atExtreme(train, test float64, s ReportSettings) bool {
	return train >= s.ExtremeTrainAcc && test <= s.ExtremeTestAcc
}

// extremeRuns returns the corrupted runs that did not diverge and whose last epoch is an
// extreme point.
func extremeRuns(runs []*RunRecord, s ReportSettings) []*RunRecord {
	var out []*RunRecord
	for _, r := range runs {
		if f := finalOf(r); !diverged(r) && atExtreme(f.TrainAcc, f.TestAcc, s) {
			out = append(out, r)
		}
	}
	return out
}

// epochsToExtreme returns the first epoch at which a corrupted run was an extreme point, or -1.
func epochsToExtreme(r *RunRecord, s ReportSettings) int {
	for _, m := range r.Metrics {
		if atExtreme(float64(m.TrainAcc), float64(m.TestAcc), s) {
			return m.Epoch
		}
	}
	return -1
}

// diverged reports whether the run stopped on a non-finite training loss: its last line
// is no point after its epochs.
func diverged(r *RunRecord) bool { return r.Final().Status == experiment.StatusDiverged }

func statsOf(runs []*RunRecord, s ReportSettings) GroupStats {
	gs := GroupStats{Runs: len(runs)}
	if len(runs) == 0 {
		return gs
	}
	first := true
	for _, r := range runs {
		if diverged(r) {
			gs.Diverged++
			continue
		}
		e := finalOf(r).Epoch
		gs.EpochsDiffer = gs.EpochsDiffer || !first && e != gs.Epochs
		gs.Epochs, first = max(gs.Epochs, e), false
	}
	gs.TrainAcc = summaryOf(finals(runs, func(f finalMetrics) float64 { return f.TrainAcc }))
	gs.TestAcc = summaryOf(finals(runs, func(f finalMetrics) float64 { return f.TestAcc }))
	gs.CorruptedAcc = summaryOf(finals(runs, func(f finalMetrics) float64 { return f.CorruptedAcc }))
	gs.WeightNorm = summaryOf(finals(runs, func(f finalMetrics) float64 { return f.WeightNorm }))
	gs.WeightNormSum = summaryOf(finals(runs, func(f finalMetrics) float64 { return f.WeightNormSum }))
	gs.DistFromInit = summaryOf(finals(runs, func(f finalMetrics) float64 { return f.DistFromInit }))
	gs.DistFromInitSum = summaryOf(finals(runs, func(f finalMetrics) float64 { return f.DistFromInitSum }))
	if runs[0].Corrupted() {
		var epochs []float64
		for _, r := range runs {
			if e := epochsToExtreme(r, s); e >= 0 {
				epochs = append(epochs, float64(e))
			} else {
				gs.NeverExtreme++
			}
		}
		gs.EpochsToExtreme = summaryOf(epochs)
	}
	return gs
}

// Report is a built report: its summary and figures, ready to be written.
type Report struct {
	Summary ReportSummary
	Figures []*Figure
	Tables  []Table
}

// Table is a table of numbers shown in index.html.
type Table struct {
	Title  string
	Header []string
	Rows   [][]string
}

// BuildReport decides the claims and draws the figures from the runs and probes under in.
func BuildReport(in *Inputs, input string, settings ReportSettings) (*Report, error) {
	s := settings.withDefaults()
	if len(in.Runs) == 0 && len(in.Probes) == 0 {
		return nil, fmt.Errorf("report: no runs (config.json + metrics.jsonl) and no probes (probe.json) under %s", input)
	}
	rep := &Report{Summary: ReportSummary{Format: ReportFormat, Generated: s.Generated, Input: input,
		Groups: map[string]map[string]GroupStats{}, Authors: map[string]AuthorsFigures{},
		Runs: len(in.Runs), Probes: len(in.Probes), Claims: []Claim{}, Untested: []Untested{}}}
	for _, st := range in.IncompleteStudies {
		st.Dir = cmp.Or(relativeDir(input, st.Dir), st.Dir) // summary.json moves with its input
		rep.Summary.IncompleteStudies = append(rep.Summary.IncompleteStudies, st)
	}
	groups := groupRuns(in.Runs)
	keys := sortedKeys(groups)

	// The main comparison: runs without weight decay.
	for _, k := range keys {
		if k.WeightDecay != 0 {
			continue
		}
		g := groups[k]
		stats := map[string]GroupStats{}
		if len(g.normal) > 0 {
			stats["normal"] = statsOf(g.normal, s)
		}
		if len(g.corrupted) > 0 {
			stats["corrupted"] = statsOf(g.corrupted, s)
		}
		rep.Summary.Groups[k.name()] = stats
		if a, ok := authorsFigures[k.name()]; ok {
			rep.Summary.Authors[k.name()] = a
		}
		if g.mixed != "" {
			for _, id := range []string{"C1", "C2", "C3"} {
				rep.untested(id, k, "runs trained differently ("+g.mixed+"): report each study apart (esp report --in its directory)")
			}
		} else {
			rep.claimsC1C2C3(g, stats, s)
		}
		rep.runFigures(g, s)
	}
	rep.claimC4(groups, keys, s)
	rep.claimC7(groups, s)
	rep.probeClaimsAndFigures(in.Probes, in.Points, groups, s)
	// A pair's claims together, in the paper's order, however they were decided.
	slices.SortStableFunc(rep.Summary.Claims, func(a, b Claim) int {
		return claimOrder(a.Dataset, a.Model, a.ID, b.Dataset, b.Model, b.ID)
	})
	slices.SortStableFunc(rep.Summary.Untested, func(a, b Untested) int {
		return claimOrder(a.Dataset, a.Model, a.ID, b.Dataset, b.Model, b.ID)
	})
	rep.numbersTable(keys, groups)
	for _, f := range rep.Figures {
		rep.Summary.Figures = append(rep.Summary.Figures, f.Name)
	}
	return rep, nil
}

// claimOrder orders claims (and untested ones) by dataset, model, then claim id.
func claimOrder(aDataset, aModel, aID, bDataset, bModel, bID string) int {
	return cmp.Or(cmp.Compare(aDataset, bDataset), cmp.Compare(aModel, bModel), cmp.Compare(aID, bID))
}

func (rep *Report) addClaim(id string, k groupKey, holds bool, evidence map[string]any) {
	evidence = finiteJSON(evidence).(map[string]any)
	rep.Summary.Claims = append(rep.Summary.Claims, Claim{ID: id, Text: ClaimTexts[id], Dataset: k.Dataset, Model: k.Model,
		Holds: holds, Evidence: evidence})
}

func (rep *Report) untested(id string, k groupKey, reason string) {
	rep.Summary.Untested = append(rep.Summary.Untested, Untested{ID: id, Dataset: k.Dataset, Model: k.Model, Reason: reason})
}

// finiteJSON replaces NaN and infinite numbers (absent values) by null, recursively:
// JSON has no NaN.
func finiteJSON(v any) any {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = finiteJSON(e)
		}
		return out
	case []map[string]any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = finiteJSON(e)
		}
		return out
	}
	return v
}

func mean(s *Summary) float64 {
	if s == nil {
		return nan
	}
	return s.Mean
}

func (rep *Report) claimsC1C2C3(g *group, stats map[string]GroupStats, s ReportSettings) {
	k := g.key
	corrupted, normal := stats["corrupted"], stats["normal"]
	if len(g.corrupted) > 0 && corrupted.Diverged == len(g.corrupted) {
		rep.untested("C1", k, fmt.Sprintf("all %d corrupted runs diverged (weights not finite): no evidence; train again at a lower learning rate", len(g.corrupted)))
	} else if len(g.corrupted) > 0 {
		train, test := mean(corrupted.TrainAcc), mean(corrupted.TestAcc)
		holds := atExtreme(train, test, s)
		ev := map[string]any{"runs": corrupted.Runs, "epochs": corrupted.Epochs, "train_acc": corrupted.TrainAcc,
			"test_acc": corrupted.TestAcc, "corrupted_acc": corrupted.CorruptedAcc,
			"criterion":             fmt.Sprintf("mean train_acc >= %.2f and mean test_acc <= %.2f", s.ExtremeTrainAcc, s.ExtremeTestAcc),
			"runs_at_extreme_point": corrupted.Runs - corrupted.NeverExtreme,
			"outcome":               fmt.Sprintf("mean train acc %.3f, test acc %.3f over %d runs; needs >= %.2f and <= %.2f", train, test, corrupted.Runs, s.ExtremeTrainAcc, s.ExtremeTestAcc)}
		if a, ok := authorsFigures[k.name()]; ok && a.CorruptedTrainAcc > 0 {
			ev["authors_train_acc"], ev["authors_test_acc"], ev["authors_epochs"] = a.CorruptedTrainAcc, a.CorruptedTestAcc, a.accuracyEpochs()
		}
		rep.addClaim("C1", k, holds, ev)
	} else {
		rep.untested("C1", k, "no corrupted runs")
	}
	if len(g.normal) > 0 && normal.Diverged == len(g.normal) {
		rep.untested("C2", k, fmt.Sprintf("all %d normal runs diverged (weights not finite): no evidence; train again at a lower learning rate", len(g.normal)))
	} else if len(g.normal) > 0 {
		train, test := mean(normal.TrainAcc), mean(normal.TestAcc)
		holds := test >= s.GeneralizeFraction*train
		ev := map[string]any{"runs": normal.Runs, "epochs": normal.Epochs, "train_acc": normal.TrainAcc, "test_acc": normal.TestAcc,
			"criterion": fmt.Sprintf("mean test_acc >= %.2f x mean train_acc", s.GeneralizeFraction)}
		if c := mean(corrupted.TestAcc); len(g.corrupted) > 0 && !math.IsNaN(c) { // NaN: every corrupted run diverged
			ev["corrupted_test_acc"] = c
			holds = holds && test > c
			ev["criterion"] = ev["criterion"].(string) + ", and above the corrupted runs' test_acc"
		}
		ev["outcome"] = fmt.Sprintf("mean test acc %.3f at train acc %.3f over %d runs, %.2fx; needs >= %.2fx", test, train, normal.Runs, test/train, s.GeneralizeFraction)
		if c, ok := ev["corrupted_test_acc"].(float64); ok {
			ev["outcome"] = ev["outcome"].(string) + fmt.Sprintf(" and above the corrupted runs' %.3f", c)
		}
		rep.addClaim("C2", k, holds, ev)
	} else {
		rep.untested("C2", k, "no normal runs")
	}
	if len(g.normal) > 0 && len(g.corrupted) > 0 {
		// The claim is about extreme points: a corrupted run that did not end at one (it
		// stopped short, or fit the wrong labels at the cost of the clean ones) is no
		// evidence, however far it went.
		points := extremeRuns(g.corrupted, s)
		if len(points) == 0 {
			rep.untested("C3", k, fmt.Sprintf("none of the %d corrupted runs ended at an extreme point (train_acc >= %.2f, test_acc <= %.2f): C3 compares extreme points with normal runs",
				len(g.corrupted), s.ExtremeTrainAcc, s.ExtremeTestAcc))
			return
		}
		corrupted = statsOf(points, s)
		dN := finals(g.normal, func(f finalMetrics) float64 { return f.DistFromInit })
		dC := finals(points, func(f finalMetrics) float64 { return f.DistFromInit })
		test, err := MannWhitneyU(dC, dN)
		if err != nil {
			rep.untested("C3", k, err.Error())
			return
		}
		// The sum-of-layer-norms variant is evidence beside the claim; where it cannot be
		// computed the evidence says why, rather than show a zero test that reads p = 0.
		var sumTest any
		if t, err := MannWhitneyU(finals(points, func(f finalMetrics) float64 { return f.DistFromInitSum }),
			finals(g.normal, func(f finalMetrics) float64 { return f.DistFromInitSum })); err == nil {
			sumTest = t
		} else {
			sumTest = map[string]string{"error": err.Error()}
		}
		sameEpochs := normal.Epochs == corrupted.Epochs && !normal.EpochsDiffer && !corrupted.EpochsDiffer
		if best := SmallestRankP(len(dC), len(dN)); sameEpochs && best >= s.Alpha {
			// Too few runs for any outcome to reach p < alpha: no test of the claim, for or against.
			rep.untested("C3", k, fmt.Sprintf("%d extreme points and %d normal runs cannot give p < %g (at best p = %.3g, all apart): run more "+
				"(distance from init %.3g vs %.3g, medians; p %.3g, P(extreme > normal) %.2f)",
				len(dC), len(dN), s.Alpha, best, corrupted.DistFromInit.Median, normal.DistFromInit.Median, test.P, test.Effect))
			return
		}
		holds := sameEpochs && test.P < s.Alpha && test.Effect > 0.5
		ev := map[string]any{
			"dist_from_init_normal": normal.DistFromInit, "dist_from_init_extreme": corrupted.DistFromInit,
			"mann_whitney": test, "mann_whitney_sum_norm": sumTest,
			"weight_norm_sum_normal": normal.WeightNormSum, "weight_norm_sum_extreme": corrupted.WeightNormSum,
			"epochs_normal": normal.Epochs, "epochs_extreme": corrupted.Epochs,
			"runs_extreme": len(points), "runs_corrupted": len(g.corrupted),
			"criterion": fmt.Sprintf("Mann-Whitney U (global L2 distance, extreme vs normal, same epochs; the corrupted runs that ended at an extreme point, train_acc >= %.2f and test_acc <= %.2f): p < %g and P(extreme > normal) > 0.5",
				s.ExtremeTrainAcc, s.ExtremeTestAcc, s.Alpha),
		}
		if !sameEpochs {
			ev["note"] = "the runs ended at different epochs: distances after different epochs are not compared"
		}
		ev["outcome"] = fmt.Sprintf("distance from init %.3g (%d extreme points) vs %.3g (%d normal), medians; p %.3g, P(extreme > normal) %.2f; needs p < %g and P > 0.5",
			corrupted.DistFromInit.Median, len(dC), normal.DistFromInit.Median, len(dN), test.P, test.Effect, s.Alpha)
		if note, ok := ev["note"].(string); ok {
			ev["outcome"] = ev["outcome"].(string) + "; " + note
		}
		rep.addClaim("C3", k, holds, ev)
	} else {
		rep.untested("C3", k, "needs both normal and corrupted runs")
	}
}

// claimC4 compares corrupted runs with weight decay against the extreme-point criterion.
func (rep *Report) claimC4(groups map[groupKey]*group, keys []groupKey, s ReportSettings) {
	type pair struct{ dataset, model string }
	sweeps := map[pair][]groupKey{}
	for _, k := range keys {
		if len(groups[k].corrupted) > 0 {
			p := pair{k.Dataset, k.Model}
			sweeps[p] = append(sweeps[p], k)
		}
	}
	tested := map[pair]bool{}
	for _, k := range keys {
		p := pair{k.Dataset, k.Model}
		// A sweep needs corrupted runs at some λ > 0: normal runs with weight decay alone
		// are no evidence either way.
		if k.WeightDecay == 0 || len(groups[k].corrupted) == 0 || tested[p] {
			continue
		}
		tested[p] = true
		var lambdas []string
		var train, test []float64
		var rows []map[string]any
		var reachedAt, missedAt []string
		reached := false
		for _, kk := range sweeps[p] {
			st := statsOf(groups[kk].corrupted, s)
			tr, te := mean(st.TrainAcc), mean(st.TestAcc)
			extreme := atExtreme(tr, te, s)
			if kk.WeightDecay > 0 && extreme {
				reached = true
			}
			if kk.WeightDecay > 0 {
				at := fmt.Sprintf("λ=%g (train acc %.3f, test acc %.3f)", kk.WeightDecay, tr, te)
				if extreme {
					reachedAt = append(reachedAt, at)
				} else {
					missedAt = append(missedAt, at)
				}
			}
			rows = append(rows, map[string]any{"weight_decay": kk.WeightDecay, "runs": st.Runs, "epochs": st.Epochs,
				"train_acc": tr, "test_acc": te, "weight_norm_sum": mean(st.WeightNormSum), "extreme_point": extreme})
			lambdas = append(lambdas, fmt.Sprintf("λ=%g", kk.WeightDecay))
			train, test = append(train, tr), append(test, te)
		}
		k0 := groupKey{Dataset: p.dataset, Model: p.model}
		var outcome []string
		if len(reachedAt) > 0 {
			outcome = append(outcome, "an extreme point at "+strings.Join(reachedAt, ", "))
		}
		if len(missedAt) > 0 {
			outcome = append(outcome, "none at "+strings.Join(missedAt, ", "))
		}
		rep.addClaim("C4", k0, reached, map[string]any{"sweep": rows, "outcome": strings.Join(outcome, "; "),
			"criterion": fmt.Sprintf("corrupted runs with some λ > 0 still reach train_acc >= %.2f and test_acc <= %.2f", s.ExtremeTrainAcc, s.ExtremeTestAcc)})
		if f, err := BarFigure("l2-"+k0.slug(), fmt.Sprintf("L2 sweep, corrupted training: %s", k0.name()), "final accuracy",
			lambdas, []Series{{Label: "train acc (clean part)", Y: train, Color: colorTrain}, {Label: "test acc", Y: test, Color: colorTest}}); err == nil {
			f.Caption = "Final accuracies of corrupted runs per weight-decay coefficient λ (C4)."
			rep.Figures = append(rep.Figures, f)
		}
	}
	for _, k := range keys {
		if k.WeightDecay == 0 && !tested[pair{k.Dataset, k.Model}] && len(groups[k].corrupted) > 0 {
			rep.untested("C4", k, "no corrupted runs with weight decay (an L2 sweep)")
		}
	}
}

// claimC7 compares epochs-to-extreme of ResNet and MLP corrupted runs on each dataset.
func (rep *Report) claimC7(groups map[groupKey]*group, s ReportSettings) {
	datasetsSeen := map[string]bool{}
	for k := range groups {
		datasetsSeen[k.Dataset] = true
	}
	names := make([]string, 0, len(datasetsSeen))
	for d := range datasetsSeen {
		names = append(names, d)
	}
	sort.Strings(names)
	for _, d := range names {
		mlp, resnet := groups[groupKey{d, "mlp", 0}], groups[groupKey{d, "resnet", 0}]
		k := groupKey{Dataset: d, Model: "resnet vs mlp"}
		if mlp == nil || resnet == nil || len(mlp.corrupted) == 0 || len(resnet.corrupted) == 0 {
			rep.untested("C7", k, "needs corrupted runs of both resnet and mlp")
			continue
		}
		// The models may train for different epochs (the paper's plan: ResNet 30, MLP 50 on
		// MNIST). Epochs to the extreme point are compared up to the horizon both trained
		// for: a run that got there later or never (it diverged first, say) counts as
		// horizon+1; one that diverged after it got there reached it.
		horizon := min(plannedEpochs(mlp.corrupted), plannedEpochs(resnet.corrupted))
		epochs := func(runs []*RunRecord) (out []float64, reached int) {
			for _, r := range runs {
				e := epochsToExtreme(r, s)
				if e < 0 || e > horizon {
					e = horizon + 1
				} else {
					reached++
				}
				out = append(out, float64(e))
			}
			return out, reached
		}
		em, reachedM := epochs(mlp.corrupted)
		er, reachedR := epochs(resnet.corrupted)
		medM, _ := Summarize(em)
		medR, _ := Summarize(er)
		// Most ResNet runs must get there: else the median is a censored value.
		holds := 2*reachedR > len(er) && medR.Median < medM.Median
		rep.addClaim("C7", k, holds, map[string]any{
			"epochs_to_extreme_mlp": medM, "epochs_to_extreme_resnet": medR, "horizon": horizon,
			"reached_mlp": reachedM, "reached_resnet": reachedR, "runs_mlp": len(em), "runs_resnet": len(er),
			"outcome": fmt.Sprintf("median epochs to the extreme point: resnet %g (%d of %d runs there within %d), mlp %g (%d of %d)",
				medR.Median, reachedR, len(er), horizon, medM.Median, reachedM, len(em)),
			"criterion": fmt.Sprintf("more than half of the resnet runs reach the extreme point within %d epochs (the epochs both models trained), and their median epoch is below the mlp's (a run that got there later or never, having diverged first, say, counts as %d)",
				horizon, horizon+1)})
	}
}

// plannedEpochs returns the most epochs any of runs was set to train (or trained).
func plannedEpochs(runs []*RunRecord) int {
	epochs := 0
	for _, r := range runs {
		epochs = max(epochs, r.Config.Settings.Epochs, r.Final().Epoch)
	}
	return epochs
}

// Write writes summary.json, the figures (PNG and SVG) and index.html into dir.
func (rep *Report) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range rep.Figures {
		if err := f.Save(dir); err != nil {
			return err
		}
	}
	data, err := json.MarshalIndent(rep.Summary, "", "  ")
	if err != nil {
		return fmt.Errorf("report: encoding summary.json: %w", err)
	}
	if err := datasets.WriteFileAtomic(filepath.Join(dir, ReportSummaryFile), append(data, '\n')); err != nil {
		return err
	}
	var html strings.Builder
	if err := rep.writeHTML(&html); err != nil {
		return err
	}
	return datasets.WriteFileAtomic(filepath.Join(dir, "index.html"), []byte(html.String()))
}

// WriteReportFromDir is the `esp report` workflow: load what is under in, build, write to out.
// Cancelling ctx stops it between those steps with ctx's error; out is then left as it was.
func WriteReportFromDir(ctx context.Context, in, out string, settings ReportSettings, progress io.Writer) (*Report, error) {
	inputs, err := LoadInputs(in)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if progress != nil {
		points := ""
		if n := len(inputs.Points); n > 0 {
			points = fmt.Sprintf("; probes' starting points trained apart or imported: %d", n)
		}
		fmt.Fprintf(progress, "report: %d runs and %d probes under %s%s\n", len(inputs.Runs), len(inputs.Probes), in, points)
		for _, dir := range inputs.Unfinished {
			fmt.Fprintf(progress, "report: left out %s: its probe did not finish\n", dir)
		}
		for _, dir := range inputs.UnfinishedRuns {
			fmt.Fprintf(progress, "report: left out %s: its training did not finish\n", dir)
		}
		for _, st := range inputs.IncompleteStudies {
			fmt.Fprintf(progress, "report: the study %s holds %d of its %d runs (other shards not finished yet, or it was interrupted): its claims read those %d\n",
				st.Dir, st.Present, st.Planned, st.Present)
		}
	}
	rep, err := BuildReport(inputs, in, settings)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := rep.Write(out); err != nil {
		return nil, err
	}
	return rep, nil
}
