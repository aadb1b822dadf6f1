package analysis

import (
	"encoding/json"
	"fmt"
	"image/color"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/extremepoints/esp/experiment"
)

// epochCurve averages one metric over runs, per epoch (runs may stop at different epochs).
func epochCurve(runs []*RunRecord, metric func(m experiment.EpochMetrics) float64) (x, y, spread []float64) {
	byEpoch := map[int][]float64{}
	for _, r := range runs {
		for _, m := range r.Metrics {
			if v := metric(m); !math.IsNaN(v) {
				byEpoch[m.Epoch] = append(byEpoch[m.Epoch], v)
			}
		}
	}
	epochs := make([]int, 0, len(byEpoch))
	for e := range byEpoch {
		epochs = append(epochs, e)
	}
	sort.Ints(epochs)
	for _, e := range epochs {
		s, _ := Summarize(byEpoch[e])
		x, y, spread = append(x, float64(e)), append(y, s.Mean), append(spread, s.Std)
	}
	return x, y, spread
}

// runFigures draws the accuracy curves and the norm and distance histograms of a group.
// Where the group's runs trained differently (g.mixed) the figures pool them, and their
// captions say so.
func (rep *Report) runFigures(g *group, s ReportSettings) {
	k := g.key
	pooled := ""
	if g.mixed != "" {
		pooled = " The runs trained differently (" + g.mixed + "): the figure pools them, and the claims are not tested."
	}
	var series []Series
	for _, kind := range []struct {
		label string
		runs  []*RunRecord
		color color.Color
	}{{"normal", g.normal, colorNormal}, {"corrupted", g.corrupted, colorCorrupted}} {
		if len(kind.runs) == 0 {
			continue
		}
		c := kind.color
		x, y, sp := epochCurve(kind.runs, func(m experiment.EpochMetrics) float64 { return float64(m.TrainAcc) })
		series = append(series, Series{Label: kind.label + ": train acc (clean part)", X: x, Y: y, Spread: sp, Color: c})
		x, y, sp = epochCurve(kind.runs, func(m experiment.EpochMetrics) float64 { return float64(m.TestAcc) })
		series = append(series, Series{Label: kind.label + ": test acc", X: x, Y: y, Spread: sp, Color: c, Dashed: true})
	}
	if f, err := LineFigure("acc-"+k.slug(), fmt.Sprintf("Accuracy during training: %s (%d normal, %d corrupted runs)",
		k.name(), len(g.normal), len(g.corrupted)), "epoch", "accuracy", false, series...); err == nil {
		f.Caption = "Mean over runs (band: ± one standard deviation). C1 asks that corrupted runs fit the clean training part while their test accuracy falls, " +
			"C2 that normal runs generalize." + pooled
		rep.Figures = append(rep.Figures, f)
	}
	// As C3: the extreme points are the corrupted runs that ended at one.
	extreme := extremeRuns(g.corrupted, s)
	if len(g.normal) == 0 || len(extreme) == 0 {
		return
	}
	labels := []string{"normal", "extreme"}
	caption := "Across runs, normal vs extreme points"
	if g.mixed == "" {
		caption += " after the same epochs"
	}
	caption += " (C3)."
	if len(extreme) < len(g.corrupted) {
		caption += fmt.Sprintf(" The extreme points are the %d of %d corrupted runs that ended at one (train_acc >= %.2f, test_acc <= %.2f).",
			len(extreme), len(g.corrupted), s.ExtremeTrainAcc, s.ExtremeTestAcc)
	}
	hists := []struct {
		name, title, x string
		metric         func(f finalMetrics) float64
	}{
		{"norm-", "Final weight norm (sum of tensor norms, the authors')", "weight_norm_sum", func(f finalMetrics) float64 { return f.WeightNormSum }},
		{"dist-", "Distance from initialization (global L2)", "dist_from_init", func(f finalMetrics) float64 { return f.DistFromInit }},
	}
	for _, h := range hists {
		samples := [][]float64{finals(g.normal, h.metric), finals(extreme, h.metric)}
		if f, err := distributionFigure(h.name+k.slug(), fmt.Sprintf("%s: %s", h.title, k.name()), h.x, labels, samples); err == nil {
			f.Caption = caption + pooled
			rep.Figures = append(rep.Figures, f)
		}
	}
}

// stripRuns is the most values of all kinds together a distribution figure draws as dots
// (StripFigure); more make a histogram of 20 bins.
const stripRuns = 40

// distributionFigure draws the values of each kind of run: as dots for a few runs, as a
// histogram for many.
func distributionFigure(name, title, xLabel string, labels []string, samples [][]float64) (*Figure, error) {
	n := 0
	for _, s := range samples {
		n += len(s)
	}
	if n <= stripRuns {
		return StripFigure(name, title, xLabel, labels, samples)
	}
	return HistogramFigure(name, title, xLabel, labels, samples, 20)
}

// probeGroup is the (dataset, model) of a probe's source run ("?" when it was not found).
func probeGroup(p *ProbeRecord) groupKey {
	k := groupKey{Dataset: "?", Model: "?"}
	if p.Source != nil {
		k = groupKey{Dataset: p.Source.Config.Dataset.Name, Model: p.Source.Config.Settings.Model}
	}
	return k
}

// column extracts a numeric field from probe lines, optionally only lines where field
// key equals value.
func column(lines []map[string]any, field, key, value string) []float64 {
	var out []float64
	for _, l := range lines {
		if key != "" && str(l, key) != value {
			continue
		}
		out = append(out, num(l, field))
	}
	return out
}

func firstFinite(v []float64) float64 {
	for _, x := range v {
		if !math.IsNaN(x) {
			return x
		}
	}
	return nan
}

func lastFinite(v []float64) float64 {
	for i := len(v) - 1; i >= 0; i-- {
		if !math.IsNaN(v[i]) {
			return v[i]
		}
	}
	return nan
}

func countFinite(v []float64) int {
	n := 0
	for _, x := range v {
		if finiteValue(x) {
			n++
		}
	}
	return n
}

// finiteOnly is v without its values that are not finite.
func finiteOnly(v []float64) []float64 {
	return slices.DeleteFunc(slices.Clone(v), func(x float64) bool { return !finiteValue(x) })
}

// risingGain: a restart whose test accuracy gained this much or more over its last epochs
// (gainAtEnd) was still rising when it stopped.
const risingGain = 0.02

// gainAtEnd is how much a curve of one value an epoch (its finite values) rose over its
// last fifth, at least one epoch, and over how many epochs: NaN and 0 with fewer than two.
func gainAtEnd(v []float64) (gain float64, epochs int) {
	f := finiteOnly(v)
	if len(f) < 2 {
		return nan, 0
	}
	epochs = max(1, (len(f)-1)/5)
	return f[len(f)-1] - f[len(f)-1-epochs], epochs
}

// normalTestAcc is the mean final test accuracy of the normal runs of probe p's (dataset,
// model) that held as many examples of each split as p took: how well the model
// generalizes from the data the probe trains on. NaN if there are none.
func normalTestAcc(groups map[groupKey]*group, k groupKey, p *ProbeRecord) float64 {
	g := groups[groupKey{k.Dataset, k.Model, 0}]
	if g == nil {
		return nan
	}
	train, test, known := probeExamples(p)
	var alike []*RunRecord
	for _, r := range g.normal {
		if !known || r.Config.Dataset.Train == train && r.Config.Dataset.Test == test {
			alike = append(alike, r)
		}
	}
	s, err := Summarize(finals(alike, func(f finalMetrics) float64 { return f.TestAcc }))
	if err != nil {
		return nan
	}
	return s.Mean
}

// probeExamples returns the examples of each split probe p took: as its probe.json
// records them, else (an older probe) as its run held them.
func probeExamples(p *ProbeRecord) (train, test int, known bool) {
	if d, ok := p.Info["dataset"].(map[string]any); ok {
		tr, okTrain := d["train"].(float64)
		te, okTest := d["test"].(float64)
		if okTrain && okTest {
			return int(tr), int(te), true
		}
	}
	if p.Source != nil {
		return p.Source.Config.Dataset.Train, p.Source.Config.Dataset.Test, true
	}
	return 0, 0, false
}

// addStart adds to a probe claim's evidence where its starting point came from: the
// epochs its run trained, or the file it was imported from.
func addStart(evidence map[string]any, source *RunRecord) {
	switch {
	case source == nil:
	case source.Imported():
		evidence["imported_from"] = source.Config.Imported.From
	default:
		evidence["start_epochs"] = finalOf(source).Epoch
	}
}

// probeClaimsAndFigures decides the probes' claims and draws their figures. points are the
// runs trained apart as probes' starting points and the imported runs (Inputs.Points):
// their sharpness is shown, but left out of the comparison of normal and extreme points,
// as they are out of the runs' distributions: they trained longer than the runs they are
// compared with, or elsewhere.
func (rep *Report) probeClaimsAndFigures(probes []*ProbeRecord, points []*RunRecord, groups map[groupKey]*group, s ReportSettings) {
	trainedApart := map[*RunRecord]bool{}
	for _, r := range points {
		trainedApart[r] = true
	}
	// Per claim a probe kind tests: the groups a probe decided it for, and why the first
	// probe of a group that decided nothing did not.
	decided := map[string]map[groupKey]bool{"C5": {}, "C6": {}}
	why := map[string]map[groupKey]string{"C5": {}, "C6": {}}
	skipped := func(id string, k groupKey, reason string) {
		if _, ok := why[id][k]; !ok {
			why[id][k] = reason
		}
	}
	// decides reports whether probe p, from a corrupted run, decides claim id for its
	// group: the first of its train and test accuracies (at step 0, the point) are an
	// extreme point's.
	decides := func(p *ProbeRecord, train, test []float64, id string) bool {
		k := probeGroup(p)
		if decided[id][k] {
			return false
		}
		tr, te := firstFinite(train), firstFinite(test)
		if !atExtreme(tr, te, s) {
			skipped(id, k, fmt.Sprintf("the %s probe %s starts at train_acc %.4f, test_acc %.4f: not an extreme point (train_acc >= %.2f, test_acc <= %.2f)",
				p.Kind, p.Dir, tr, te, s.ExtremeTrainAcc, s.ExtremeTestAcc))
			return false
		}
		decided[id][k] = true
		return true
	}
	// The first probe of a group that starts at an extreme point decides its claim; where
	// the group has more probes of the kind, the claim says which decided it.
	ofKind := map[string]map[groupKey]int{}
	for _, p := range probes {
		if ofKind[p.Kind] == nil {
			ofKind[p.Kind] = map[groupKey]int{}
		}
		ofKind[p.Kind][probeGroup(p)]++
	}
	addProbeClaim := func(id string, k groupKey, p *ProbeRecord, holds bool, evidence map[string]any) {
		if n := ofKind[p.Kind][k]; n > 1 {
			evidence["outcome"] = fmt.Sprintf("%s; from %s, one of %d %s probes", evidence["outcome"], p.Dir, n, p.Kind)
		}
		rep.addClaim(id, k, holds, evidence)
	}
	densities := map[groupKey][]densityOfPoint{}
	compared := map[groupKey]map[string]*sharpnessPoints{} // by group and Hessian-vector product
	for i, p := range probes {
		k := probeGroup(p)
		name := fmt.Sprintf("%s-%s-%d", p.Kind, k.slug(), i) // unique: i numbers the probes
		// An imported point's training is unknown: the probe's start (decides) says whether
		// it is an extreme point.
		fromExtreme := p.Source != nil && (p.Source.Corrupted() || p.Source.Imported())
		if id := map[string]string{"restart": "C5", "fullbatch": "C6"}[p.Kind]; id != "" && p.Source == nil {
			why := "no run under the input is there (moved apart since? a probe finds its run by the paths it recorded, absolute and relative to its own directory)"
			if p.SourceChanged != "" {
				why = fmt.Sprintf("the weights of %s are no longer those it probed (trained again since?)", p.SourceChanged)
			}
			skipped(id, k, fmt.Sprintf("the %s probe %s started from %v, and %s", p.Kind, p.Dir, probeStart(p), why))
		}
		switch p.Kind {
		case "restart":
			epochs := column(p.Lines, "epoch", "", "")
			test := column(p.Lines, "test_acc", "", "")
			train := column(p.Lines, "train_acc", "", "")
			reference := normalTestAcc(groups, k, p)
			threshold := 0.5 // C5's bar
			if !math.IsNaN(reference) {
				threshold = s.GeneralizeFraction * reference
			}
			startsAtExtreme := fromExtreme && atExtreme(firstFinite(train), firstFinite(test), s)
			series := []Series{{Label: "train acc", X: epochs, Y: train, Color: colorTrain},
				{Label: "test acc", X: epochs, Y: test, Color: colorTest, Dashed: true}}
			if startsAtExtreme && len(epochs) > 1 {
				series = append(series, Series{Label: fmt.Sprintf("C5's bar, test acc %.3f", threshold), X: []float64{epochs[0], epochs[len(epochs)-1]},
					Y: []float64{threshold, threshold}, Color: color.Gray{Y: 128}, Dashed: true})
			}
			if f, err := LineFigure(name, fmt.Sprintf("Minibatch restart on clean data: %s", k.name()), "epoch", "accuracy", false, series...); err == nil {
				f.Caption = fmt.Sprintf("Minibatch training on the clean data from %s (train acc %.3f, test acc %.3f at the start); probe %s.",
					probePoint(p), firstFinite(train), firstFinite(test), p.Dir)
				if startsAtExtreme {
					f.Caption += " C5 asks that it escape to a point that generalizes: a test accuracy at the bar, " +
						"0.5 or, with normal runs on as many examples, their mean's " + fmt.Sprintf("%.2f", s.GeneralizeFraction) + "."
				}
				rep.Figures = append(rep.Figures, f)
			}
			if fromExtreme && decides(p, train, test, "C5") {
				before, after := firstFinite(test), lastFinite(test)
				best := slices.Max(append(finiteOnly(test), math.Inf(-1)))
				gain, gainEpochs := gainAtEnd(test)
				holds := after >= threshold
				outcome := fmt.Sprintf("test acc %.3f -> %.3f in %g epochs (best %.3f), needs >= %.3f", before, after, lastFinite(epochs), best, threshold)
				if !holds && gain >= risingGain {
					last := "epoch"
					if gainEpochs > 1 {
						last = fmt.Sprintf("%d epochs", gainEpochs)
					}
					outcome += fmt.Sprintf("; still rising (%+.3f in the last %s): a longer restart may tell", gain, last)
				}
				evidence := map[string]any{"train_acc_before": firstFinite(train), "test_acc_before": before, "test_acc_after": after,
					"test_acc_best": best, "test_acc_gain_last": gain, "epochs": lastFinite(epochs),
					"normal_test_acc": reference, "probe": p.Dir, "outcome": outcome,
					"criterion": fmt.Sprintf("test_acc after the restart >= %.3f (%.2f x the mean of the normal runs on as many examples, or 0.5 without them)", threshold, s.GeneralizeFraction)}
				addStart(evidence, p.Source)
				addProbeClaim("C5", k, p, holds, evidence)
			}
		case "fullbatch":
			methods := map[string]bool{}
			for _, l := range p.Lines {
				methods[str(l, "method")] = true
			}
			var names []string
			for m := range methods {
				names = append(names, m)
			}
			sort.Strings(names)
			var gradSeries, accSeries, lambdaSeries []Series
			lambdaMeasured := false // some method has λ_max at two steps or more: a curve
			evidence := map[string]any{"probe": p.Dir}
			addStart(evidence, p.Source)
			holdsAll, converging := len(names) > 0, 0
			trainAcc, testAcc := column(p.Lines, "train_acc", "", ""), column(p.Lines, "test_acc", "", "") // both methods' lines
			startsAtExtreme := fromExtreme && atExtreme(firstFinite(trainAcc), firstFinite(testAcc), s)
			var divergedNames, meeting, missing []string
			reference := normalTestAcc(groups, k, p)
			lowBound := 0.5 * reference
			if math.IsNaN(reference) {
				lowBound = 0.5
			}
			for j, m := range names {
				steps := column(p.Lines, "step", "method", m)
				grad := column(p.Lines, "grad_norm", "method", m)
				test := column(p.Lines, "test_acc", "method", m)
				c := methodColors[j%len(methodColors)]
				gradSeries = append(gradSeries, Series{Label: "full-batch " + m, X: steps, Y: grad, Color: c})
				accSeries = append(accSeries, Series{Label: "full-batch " + m + ": test acc", X: steps, Y: test, Color: c, Dashed: true},
					Series{Label: "full-batch " + m + ": train acc", X: steps, Y: column(p.Lines, "train_acc", "method", m), Color: c})
				g0, g1 := firstFinite(grad), lastFinite(grad)
				t0, t1 := firstFinite(test), lastFinite(test)
				low := t1 <= lowBound
				drop := g1 <= s.GradientDrop*g0
				loss := column(p.Lines, "loss", "method", m)
				l0, l1 := firstFinite(loss), lastFinite(loss)
				diverged := descentDiverged(loss)
				methodEvidence := map[string]any{"steps": lastFinite(steps), "grad_norm_first": g0, "grad_norm_last": g1,
					"test_acc_first": t0, "test_acc_last": t1, "test_acc_stays_low": low, "grad_norm_to_zero": drop,
					"loss_first": l0, "loss_last": l1, "diverged": diverged}
				evidence[m] = methodEvidence
				rates := column(p.Lines, "lr", "method", m)
				if rate := firstFinite(rates); !math.IsNaN(rate) { // older probes have no lr
					methodEvidence["learning_rate"] = rate
					if last := lastFinite(rates); last != rate { // an adaptive step
						methodEvidence["learning_rate_last"] = last
					}
				}
				if lambda := column(p.Lines, "top_eigenvalue", "method", m); !math.IsNaN(firstFinite(lambda)) { // measured along the way
					methodEvidence["top_eigenvalue_first"], methodEvidence["top_eigenvalue_last"] = firstFinite(lambda), lastFinite(lambda)
					lambdaSeries = append(lambdaSeries, Series{Label: "full-batch " + m + ": λ_max", X: steps, Y: lambda, Color: c})
					lambdaMeasured = lambdaMeasured || countFinite(lambda) > 1
					if m == MethodGD && firstFinite(rates) > 0 { // GD's stability bound at its step, which may change along the way
						var bound Series
						for i, rate := range rates {
							if i > 0 && rate != rates[i-1] { // a step function: the new step from this line on
								bound.X, bound.Y = append(bound.X, steps[i]), append(bound.Y, 2/rates[i-1])
							}
							bound.X, bound.Y = append(bound.X, steps[i]), append(bound.Y, 2/rate)
						}
						bound.Label, bound.Color, bound.Dashed = "2 / GD's step", c, true
						lambdaSeries = append(lambdaSeries, bound)
					}
				}
				if settings, _ := p.Info["settings"].(map[string]any); m == MethodGD && settings["gd_learning_rate_from"] != nil {
					methodEvidence["learning_rate_from"] = settings["gd_learning_rate_from"]
				}
				rep.addFullBatchRow(k, p.Dir, m, methodEvidence, s.GradientDrop, startsAtExtreme)
				if diverged { // it never neared a critical point: no evidence either way
					divergedNames = append(divergedNames, m)
					continue
				}
				converging++
				holdsAll = holdsAll && low && drop
				if low && drop {
					meeting = append(meeting, m)
				}
				if !low {
					missing = append(missing, fmt.Sprintf("%s's test acc %.3f -> %.3f, needs <= %.3f", m, t0, t1, lowBound))
				}
				if !drop {
					missing = append(missing, fmt.Sprintf("%s's gradient norm %.3g -> %.3g, needs <= %.3g", m, g0, g1, s.GradientDrop*g0))
				}
			}
			var outcome []string
			if len(meeting) > 0 {
				outcome = append(outcome, strings.Join(meeting, " and ")+map[bool]string{true: " meets it", false: " meet it"}[len(meeting) == 1])
			}
			outcome = append(outcome, missing...)
			if len(divergedNames) > 0 {
				outcome = append(outcome, strings.Join(divergedNames, " and ")+" diverged")
			}
			evidence["outcome"] = strings.Join(outcome, "; ")
			evidence["methods_meeting_criterion"] = "none"
			if len(meeting) > 0 {
				evidence["methods_meeting_criterion"] = strings.Join(meeting, ", ")
			}
			evidence["normal_test_acc"] = reference
			evidence["criterion"] = fmt.Sprintf("for every method that did not diverge: last test_acc <= 0.5 x the mean of the normal runs on as many examples (0.5 without them) and last grad_norm <= %.2g x first", s.GradientDrop)
			if len(divergedNames) > 0 {
				evidence["diverged"] = fmt.Sprintf("%s: the loss ended above %gx its start (for GD, a learning rate above 2/λ_max at the point; see its sharpness probe)",
					strings.Join(divergedNames, ", "), divergedLossGrowth)
			}
			if a, ok := authorsFigures[k.name()]; ok && a.RestartTestAccBefore > 0 {
				evidence["authors_test_acc_before"], evidence["authors_test_acc_after"] = a.RestartTestAccBefore, a.RestartTestAccAfter
				if a.PointEpochs > 0 {
					evidence["authors_start_epochs"] = a.PointEpochs
				}
			}
			if f, err := LineFigure(name+"-grad", fmt.Sprintf("Full-batch descent from the point: gradient norm, %s", k.name()),
				"step", "full gradient norm (log)", true, gradSeries...); err == nil {
				f.Caption = fmt.Sprintf("Global L2 norm of the full-batch gradient of the clean training loss, from %s; probe %s (C6).", probePoint(p), p.Dir)
				rep.Figures = append(rep.Figures, f)
			}
			if f, err := LineFigure(name+"-acc", fmt.Sprintf("Full-batch descent from the point: accuracy, %s", k.name()),
				"step", "accuracy", false, accSeries...); err == nil {
				f.Caption = fmt.Sprintf("From %s; probe %s. C6 asks that the test accuracy stay low while the gradient norm falls to ~0 (a critical point of the clean loss).",
					probePoint(p), p.Dir)
				rep.Figures = append(rep.Figures, f)
			}
			if lambdaMeasured {
				if f, err := LineFigure(name+"-sharpness", fmt.Sprintf("Full-batch descent from the point: λ_max, %s", k.name()),
					"step", "top Hessian eigenvalue", false, lambdaSeries...); err == nil {
					f.Caption = "Largest eigenvalue of the clean loss's Hessian along each descent (--sharpness-every). Plain GD is stable while λ_max stays below 2/step."
					rep.Figures = append(rep.Figures, f)
				}
			}
			switch {
			case fromExtreme && converging == 0 && len(names) > 0 && (!p.Source.Imported() || startsAtExtreme): // of an imported point: first, whether it is one
				skipped("C6", k, fmt.Sprintf("every method of the fullbatch probe %s diverged (%s)", p.Dir, strings.Join(divergedNames, ", ")))
			case fromExtreme && decides(p, trainAcc, testAcc, "C6"):
				addProbeClaim("C6", k, p, holdsAll, evidence)
			}
		case "interpolate":
			alpha := column(p.Lines, "alpha", "", "")
			if f, err := LineFigure(name, fmt.Sprintf("Interpolation between two points: %s", k.name()), "α (0: from, 1: to)", "accuracy", false,
				Series{Label: "train acc", X: alpha, Y: column(p.Lines, "train_acc", "", ""), Color: colorTrain},
				Series{Label: "test acc", X: alpha, Y: column(p.Lines, "test_acc", "", ""), Color: colorTest, Dashed: true}); err == nil {
				f.Caption = interpolationCaption(p)
				rep.Figures = append(rep.Figures, f)
			}
			if f, err := LineFigure(name+"-loss", fmt.Sprintf("Interpolation: loss, %s", k.name()), "α (0: from, 1: to)", "loss (log)", true,
				Series{Label: "train loss", X: alpha, Y: column(p.Lines, "train_loss", "", ""), Color: colorTrain},
				Series{Label: "test loss", X: alpha, Y: column(p.Lines, "test_loss", "", ""), Color: colorTest, Dashed: true}); err == nil {
				f.Caption = interpolationCaption(p)
				rep.Figures = append(rep.Figures, f)
			}
		case "surface":
			settings, _ := p.Info["settings"].(map[string]any)
			direction, directions := "a random filter-normalized direction", "Two random filter-normalized directions around the point (Li et al. 2018)."
			if settings["directions"] == DirectionsHessian {
				eigenvalues := floats(settings["direction_eigenvalues"])
				direction = "the top Hessian eigenvector"
				directions = "The unit eigenvectors of the two largest Hessian eigenvalues of the clean loss at the point"
				if len(eigenvalues) == 2 {
					direction += fmt.Sprintf(" (λ %s)", fmtNum(eigenvalues[0]))
					directions += fmt.Sprintf(" (α: λ %s, β: λ %s)", fmtNum(eigenvalues[0]), fmtNum(eigenvalues[1]))
				}
				directions += "."
			}
			if len(p.Lines) > 0 {
				alpha := column(p.Lines, "alpha", "", "")
				if f, err := LineFigure(name+"-1d", fmt.Sprintf("Loss along %s: %s", direction, k.name()), "α", "loss (log)", true,
					Series{Label: "train loss", X: alpha, Y: column(p.Lines, "train_loss", "", ""), Color: colorTrain},
					Series{Label: "test loss", X: alpha, Y: column(p.Lines, "test_loss", "", ""), Color: colorTest, Dashed: true}); err == nil {
					f.Caption = fmt.Sprintf("1D slice of the loss surface around %s; probe %s.", probePoint(p), p.Dir)
					rep.Figures = append(rep.Figures, f)
				}
			}
			if p.Object != nil {
				alphas, betas := floats(p.Object["alphas"]), floats(p.Object["betas"])
				z := matrix(p.Object["train_loss"])
				if f, err := HeatMapFigure(name+"-2d", fmt.Sprintf("Training loss on a 2D slice: %s", k.name()), "α", "β", alphas, betas, z); err == nil {
					f.Caption = directions
					rep.Figures = append(rep.Figures, f)
				}
			}
		case "sharpness":
			point, span := "-", "-"
			switch {
			case p.Source != nil && p.Source.Imported():
				point = "imported"
			case p.Source != nil:
				point = map[bool]string{true: "corrupted", false: "normal"}[p.Source.Corrupted()]
			}
			density := densityOf(p.Object)
			switch {
			case density != nil:
				span = fmt.Sprintf("%s to %s", fmtNum(float64(density.Smallest)), fmtNum(float64(density.Largest)))
			case str(p.Object, "density_note") != "":
				span = "none: not finite"
			}
			lambda, outliers := fmtNum(num(p.Object, "top_eigenvalue")), "-"
			if top := floats(p.Object["top_eigenvalues"]); len(top) > 1 { // --top K: the K largest
				values := make([]string, len(top))
				for i, v := range top {
					values[i] = fmtNum(v)
				}
				lambda = fmt.Sprintf("%s (the %d largest)", strings.Join(values, ", "), len(top))
				if count, gap, ok := outliersAboveGap(top); ok {
					outliers = fmt.Sprintf("%d (%.3gx)", count, gap)
				}
			}
			notConverged := ""
			if converged, ok := p.Object["converged"].(bool); ok && !converged {
				notConverged = " (not converged)"
			}
			hvpName := orDefault(str(p.Object, "hvp"), "-")
			if p.Source != nil && filepath.Base(p.Dir) == filepath.Base(p.Source.Dir) {
				// One of a study's runs probed alike (esp reproduce's sharpness-runs/RUN, esp
				// probe sharpness --study's OUT/RUN): a short row each, the points many.
				rep.addTableRow("Sharpness of a study's runs, each probed alike",
					[]string{"dataset/model", "run", "point", "λ_max", "outliers (largest gap λ_i/λ_i+1)", "trace", "H·v"},
					[]string{k.name(), filepath.Base(p.Dir), point, fmtNum(num(p.Object, "top_eigenvalue")) + notConverged, outliers,
						fmtNum(num(p.Object, "trace")), hvpName})
			} else {
				row := []string{k.name(), filepath.Base(p.Dir), point, lambda + notConverged, outliers, fmtNum(num(p.Object, "trace")),
					fmtNum(num(p.Object, "trace_std")), span, hvpName} // trace_std is the standard error of the estimate
				rep.addTableRow("Sharpness (top Hessian eigenvalue, Hutchinson trace, eigenvalue density)",
					[]string{"dataset/model", "probe", "point", "λ_max", "outliers (largest gap λ_i/λ_i+1)", "trace", "trace std. error", "eigenvalues (density)", "H·v"}, row)
			}
			// Compared and drawn within runs trained alike: a weight decay's apart.
			kw := k
			if p.Source != nil {
				kw.WeightDecay = p.Source.Config.Settings.WeightDecay
			}
			if density != nil {
				densities[kw] = append(densities[kw], densityOfPoint{point, DensitySeries{Label: point + ": " + filepath.Base(p.Dir), Density: density, Color: colorOf(point)}})
			}
			// Exact and finite-difference products apart: the latter add the gradient's jumps.
			hvp := orDefault(str(p.Object, "hvp"), HVPFiniteDifference) // sharpness.json before exact products
			if !trainedApart[p.Source] {
				if compared[kw] == nil {
					compared[kw] = map[string]*sharpnessPoints{}
				}
				if compared[kw][hvp] == nil {
					compared[kw][hvp] = &sharpnessPoints{}
				}
				compared[kw][hvp].add(p, s)
			}
		}
	}
	for _, k := range sortedKeys(compared) {
		mixed := "" // as for C1-C3: points of runs trained differently are not compared
		if g := groups[k]; g != nil {
			mixed = g.mixed
		}
		for _, hvp := range slices.Sorted(maps.Keys(compared[k])) { // exact first
			rep.compareSharpness(k, hvp, compared[k][hvp], mixed)
		}
	}
	for i, k := range sortedKeys(densities) { // one figure a dataset and model: normal and extreme points side by side
		series := fewOfEachKind(densities[k], len(seriesColors))
		if f, err := DensityFigure(fmt.Sprintf("sharpness-density-%s-%d", k.slug(), i), "Hessian eigenvalue density: "+k.decayName(), series...); err == nil {
			f.Caption = "Stochastic Lanczos quadrature over random vectors, each node smoothed by a Gaussian of 1% of the range " +
				"(sharpness probes with --density; sharpness.json has the vectors and steps). The outliers are the small bumps on the right, " +
				"λ_max the last: a random vector weighs an eigenvalue by about one over the parameters, and a vector or two leave the bumps' heights noisy."
			if left := len(densities[k]) - len(series); left > 0 {
				f.Caption += fmt.Sprintf(" %d of the %d densities drawn, as many of each kind of point as there is room for.", len(series), len(densities[k]))
			}
			rep.Figures = append(rep.Figures, f)
		}
	}
	untested := func(id string, k groupKey, otherwise string) {
		if !decided[id][k] {
			rep.untested(id, k, orDefault(why[id][k], otherwise))
		}
		delete(why[id], k)
	}
	for _, k := range sortedKeys(groups) {
		if k.WeightDecay != 0 || len(groups[k].corrupted) == 0 {
			continue
		}
		kk := groupKey{Dataset: k.Dataset, Model: k.Model}
		untested("C5", kk, "no restart probe from a corrupted run")
		untested("C6", kk, "no fullbatch probe from a corrupted run")
	}
	for _, id := range []string{"C5", "C6"} { // probes of a dataset and model without runs here
		for _, k := range sortedKeys(why[id]) {
			untested(id, k, "")
		}
	}
}

// probePoint names the point a restart or fullbatch probe started from, as the probes
// name it: RUN:WEIGHTS.
func probePoint(p *ProbeRecord) string {
	if weights, ok := p.Info["weights"].(string); ok {
		return fmt.Sprintf("%v:%s", probeStart(p), weights)
	}
	return fmt.Sprint(probeStart(p))
}

// interpolationCaption names the two ends of an interpolation probe's line.
func interpolationCaption(p *ProbeRecord) string {
	end := func(key string) string {
		if v, ok := p.Info[key].(string); ok {
			return filepath.Base(v) // RUN:WEIGHTS
		}
		return "?"
	}
	return fmt.Sprintf("Along (1-α)·from + α·to, beyond both ends: α = 0 is %s, α = 1 is %s; probe %s.", end("from"), end("to"), p.Dir)
}

// probeStart is what probe.json says a probe started from: its run, or its from point.
func probeStart(p *ProbeRecord) any {
	if run, ok := p.Info["run"]; ok {
		return run
	}
	return p.Info["from"]
}

func orDefault(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}

func floats(v any) []float64 {
	list, _ := v.([]any)
	out := make([]float64, len(list))
	for i, x := range list {
		f, ok := x.(float64)
		if !ok {
			f = nan
		}
		out[i] = f
	}
	return out
}

func matrix(v any) [][]float64 {
	list, _ := v.([]any)
	out := make([][]float64, len(list))
	for i, row := range list {
		out[i] = floats(row)
	}
	return out
}

// sharpnessPoints gathers the sharpness probes of a dataset and model by the kind of
// point they measured, one point a run.
type sharpnessPoints struct {
	runs map[string]sharpnessPoint // by run directory
}

// sharpnessPoint is one run's sharpness, from its probe over the most examples.
type sharpnessPoint struct {
	extreme                bool
	lambda, trace          float64
	outliers, outlierGap   float64 // SharpnessResult.Outliers; NaN without them
	converged              bool
	examples, traceSamples int
	top                    int // eigenvalues the probe looked for (--top): outliers count up to it
}

// add files probe p (a sharpness probe) under its point's kind: the final weights of a
// normal run, or of a corrupted run that ended at an extreme point. Others (initial
// weights, corrupted runs short of an extreme point, points of no run here, estimates
// that are not numbers) are left out. A run probed twice (esp reproduce's probe and a
// --study batch's) is one point, the probe's over the most examples (then the most trace
// samples): the test counts points, not probes, and the batch's probes of a study's runs
// share their settings.
func (sp *sharpnessPoints) add(p *ProbeRecord, s ReportSettings) {
	lambda, trace := num(p.Object, "top_eigenvalue"), num(p.Object, "trace")
	if p.Source == nil || str(p.Info, "weights") != "final" || math.IsNaN(lambda) || math.IsNaN(trace) {
		return
	}
	point := sharpnessPoint{lambda: lambda, trace: trace, outliers: nan, outlierGap: nan, converged: true,
		examples: intField(p.Object, "examples"), traceSamples: intField(p.Object, "trace_samples")}
	if top := floats(p.Object["top_eigenvalues"]); len(top) > 0 {
		point.top = len(top)
		if count, gap, ok := outliersAboveGap(top); ok {
			point.outliers, point.outlierGap = float64(count), gap
		}
	}
	if converged, ok := p.Object["converged"].(bool); ok {
		point.converged = converged
	}
	if p.Source.Corrupted() {
		if f := finalOf(p.Source); !atExtreme(f.TrainAcc, f.TestAcc, s) {
			return
		}
		point.extreme = true
	}
	run := filepath.Clean(p.Source.Dir)
	if old, ok := sp.runs[run]; ok && (old.examples > point.examples ||
		(old.examples == point.examples && old.traceSamples >= point.traceSamples)) {
		return
	}
	if sp.runs == nil {
		sp.runs = map[string]sharpnessPoint{}
	}
	sp.runs[run] = point
}

// intField reads a count of a decoded JSON object: 0 where it is absent (an older file).
func intField(m map[string]any, key string) int {
	if v, ok := m[key].(float64); ok {
		return int(v)
	}
	return 0
}

// kindSharpness are the measures of one kind's points, in the runs' order: outliers and
// outlierGaps only of the points whose probes found their largest eigenvalues.
type kindSharpness struct {
	lambdas, traces       []float64
	outliers, outlierGaps []float64
	tops                  []int // the numbers of eigenvalues the outliers' probes looked for
	notConverged          int
}

// values returns the measures of the points of a kind.
func (sp *sharpnessPoints) values(extreme bool) kindSharpness {
	var v kindSharpness
	for _, run := range slices.Sorted(maps.Keys(sp.runs)) {
		p := sp.runs[run]
		if p.extreme != extreme {
			continue
		}
		v.lambdas, v.traces = append(v.lambdas, p.lambda), append(v.traces, p.trace)
		if !math.IsNaN(p.outliers) {
			v.outliers, v.outlierGaps = append(v.outliers, p.outliers), append(v.outlierGaps, p.outlierGap)
			if !slices.Contains(v.tops, p.top) {
				v.tops = append(v.tops, p.top)
			}
		}
		if !p.converged {
			v.notConverged++
		}
	}
	return v
}

// compareSharpness adds the comparison of a group's normal and extreme points, where
// sharpness probes of Hessian-vector products hvp measured both kinds, to the summary and
// to a table.
//
// With mixed (mixedRecipes: the group's runs trained differently) the kinds are summarized
// but not tested; the outlier counts of probes that looked for different numbers of
// eigenvalues (--top) are not compared either, each capped by its own.
func (rep *Report) compareSharpness(k groupKey, hvp string, sp *sharpnessPoints, mixed string) {
	normal, extreme := sp.values(false), sp.values(true)
	if len(normal.lambdas) == 0 || len(extreme.lambdas) == 0 {
		return
	}
	c := SharpnessComparison{Dataset: k.Dataset, Model: k.Model, WeightDecay: k.WeightDecay, HVP: hvp,
		NotConverged:  normal.notConverged + extreme.notConverged,
		TopEigenvalue: sharpnessTest(normal.lambdas, extreme.lambdas), Trace: sharpnessTest(normal.traces, extreme.traces)}
	untested := ""
	if mixed != "" {
		c.TopEigenvalue.Test, c.Trace.Test = nil, nil
		c.Note = "runs trained differently (" + mixed + "): not tested; report each study apart"
		untested = "- (runs trained differently)"
	}
	test := func(t SharpnessTest) string {
		switch {
		case untested != "":
			return untested
		case t.Test == nil:
			return "- (needs 2 points of each kind)"
		}
		return fmt.Sprintf("p = %.3g, P(extreme > normal) = %.2f", t.Test.P, t.Test.Effect)
	}
	outliers := []string{"-", "-", "-"}
	tops := append(slices.Clone(normal.tops), extreme.tops...)
	slices.Sort(tops)
	tops = slices.Compact(tops)
	switch {
	case len(normal.outliers) == 0 || len(extreme.outliers) == 0:
	case len(tops) > 1:
		c.OutliersNote = fmt.Sprintf("outliers not compared: probes looked for different numbers of eigenvalues (--top %s), each count capped by its own",
			strings.Trim(strings.ReplaceAll(fmt.Sprint(tops), " ", ", "), "[]"))
		outliers[2] = "- (different --top)"
	default:
		counts, gaps := sharpnessTest(normal.outliers, extreme.outliers), sharpnessTest(normal.outlierGaps, extreme.outlierGaps)
		if mixed != "" {
			counts.Test, gaps.Test = nil, nil
		}
		c.Outliers, c.OutlierGap = &counts, &gaps
		cell := func(count, gap *Summary) string { return fmt.Sprintf("%s (%.3gx)", fmtNum(count.Median), gap.Median) }
		outliers = []string{cell(counts.Normal, gaps.Normal), cell(counts.Extreme, gaps.Extreme), test(gaps)}
	}
	rep.Summary.Sharpness = append(rep.Summary.Sharpness, c)
	rep.drawSharpness(k, hvp, c, normal, extreme)
	cells := func(t SharpnessTest) []string {
		return []string{fmtNum(t.Normal.Median), fmtNum(t.Extreme.Median), test(t)}
	}
	row := append([]string{k.decayName(), hvp, fmt.Sprintf("%d, %d", len(normal.lambdas), len(extreme.lambdas)), fmt.Sprint(c.NotConverged)},
		append(append(cells(c.TopEigenvalue), outliers...), cells(c.Trace)...)...)
	rep.addTableRow("Sharpness of normal and extreme points (medians; Mann-Whitney U, extreme vs normal)",
		[]string{"dataset/model", "H·v", "points (normal, extreme)", "λ_max not converged", "λ_max normal", "λ_max extreme", "λ_max test",
			"outliers normal (gap)", "outliers extreme (gap)", "gap test", "trace normal", "trace extreme", "trace test"}, row)
}

// drawSharpness adds histograms of λ_max and the trace at a comparison's normal and
// extreme points, where there are two of each kind or more to test.
func (rep *Report) drawSharpness(k groupKey, hvp string, c SharpnessComparison, normal, extreme kindSharpness) {
	if c.TopEigenvalue.Test == nil {
		return
	}
	for _, h := range []struct {
		name, title, x  string
		normal, extreme []float64
		test            *RankTest
	}{
		{"lambda", "Top Hessian eigenvalue", "λ_max", normal.lambdas, extreme.lambdas, c.TopEigenvalue.Test},
		{"trace", "Hessian trace", "trace (Hutchinson)", normal.traces, extreme.traces, c.Trace.Test},
	} {
		name := fmt.Sprintf("sharpness-%s-%s-%d", h.name, k.slug(), len(rep.Summary.Sharpness))
		title := fmt.Sprintf("%s at normal and extreme points: %s (%d normal, %d extreme)", h.title, k.decayName(), len(h.normal), len(h.extreme))
		f, err := distributionFigure(name, title, h.x, []string{"normal", "extreme"}, [][]float64{h.normal, h.extreme})
		if err != nil {
			continue
		}
		f.Caption = fmt.Sprintf("Sharpness probes of the runs' final points (%s Hessian-vector products), each run once.", hvp)
		if h.test != nil {
			f.Caption += fmt.Sprintf(" Mann-Whitney U, extreme vs normal: p = %.3g, P(extreme > normal) = %.2f.", h.test.P, h.test.Effect)
		}
		rep.Figures = append(rep.Figures, f)
	}
}

// addFullBatchRow adds a full-batch descent's first and last values, from its C6
// evidence, to the report's table of descents, with what C6's criterion finds of it
// (evidence for the claim only where the descent starts at an extreme point).
func (rep *Report) addFullBatchRow(k groupKey, probe, method string, ev map[string]any, gradientDrop float64, startsAtExtreme bool) {
	get := func(key string) float64 {
		if v, ok := ev[key].(float64); ok {
			return v
		}
		return nan
	}
	span := func(first, last string, format func(float64) string) string {
		if math.IsNaN(get(first)) {
			return "-"
		}
		if math.IsNaN(get(last)) || get(last) == get(first) {
			return format(get(first))
		}
		return format(get(first)) + " → " + format(get(last))
	}
	percent := func(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) }
	gradient := span("grad_norm_first", "grad_norm_last", fmtNum)
	if fall := get("grad_norm_first") / get("grad_norm_last"); finiteValue(fall) && fall > 0 {
		gradient += fmt.Sprintf(" (%.3gx down)", fall)
	}
	var outcome string
	switch low, drop := ev["test_acc_stays_low"] == true, ev["grad_norm_to_zero"] == true; {
	case ev["diverged"] == true:
		outcome = "diverged"
	case low && drop:
		outcome = "meets the criterion"
	case low:
		outcome = fmt.Sprintf("test accuracy low; gradient not %.3gx down", 1/gradientDrop)
	case drop:
		outcome = "gradient down; test accuracy not low"
	default:
		outcome = "neither"
	}
	if !startsAtExtreme {
		outcome += " (not from an extreme point)"
	}
	rep.addTableRow("Full-batch descents (C6): first → last",
		[]string{"dataset/model", "probe", "method", "steps", "test acc", "gradient norm", "loss", "step size", "λ_max", "C6 criterion"},
		[]string{k.decayName(), probe, method, fmtNum(get("steps")), span("test_acc_first", "test_acc_last", percent), gradient,
			span("loss_first", "loss_last", fmtNum), span("learning_rate", "learning_rate_last", fmtNum),
			span("top_eigenvalue_first", "top_eigenvalue_last", fmtNum), outcome})
}

// sharpnessTest summarizes a measure's normal and extreme values and, with two of each
// or more, tests the extreme against the normal.
func sharpnessTest(normal, extreme []float64) SharpnessTest {
	t := SharpnessTest{Normal: summaryOf(normal), Extreme: summaryOf(extreme)}
	if len(normal) >= 2 && len(extreme) >= 2 {
		if test, err := MannWhitneyU(extreme, normal); err == nil {
			t.Test = &test
		}
	}
	return t
}

// divergedLossGrowth is how many times its starting loss a full-batch descent must end
// above to count as diverged.
const divergedLossGrowth = 100.0

// descentDiverged reports whether a descent's loss went up without bound: its last value
// not finite (overflowed; a file holds it as null) after a finite start, or above
// divergedLossGrowth times its first and above 1 (so that a descent from a loss of 1e-6
// that ends at 1e-3 still counts as converging). A descent without losses did not.
func descentDiverged(loss []float64) bool {
	first := firstFinite(loss)
	if !finiteValue(first) {
		return false
	}
	last := loss[len(loss)-1]
	return !finiteValue(last) || (last > divergedLossGrowth*first && last > 1)
}

// densityOf decodes the eigenvalue density of a sharpness.json, nil when it has none or
// a damaged one; its extremes are its nodes'.
func densityOf(sharpness map[string]any) *HessianDensity {
	raw, ok := sharpness["density"]
	if !ok {
		return nil
	}
	data, err := json.Marshal(raw)
	if err != nil {
		return nil
	}
	var d HessianDensity
	if err := json.Unmarshal(data, &d); err != nil {
		return nil
	}
	lo, hi, err := d.extremes()
	if err != nil {
		return nil
	}
	d.Smallest, d.Largest = experiment.Float(lo), experiment.Float(hi)
	return &d
}

// densityOfPoint is a density to draw and the kind of its point ("normal", "corrupted" or
// "-").
type densityOfPoint struct {
	kind   string
	series DensitySeries
}

// fewOfEachKind returns at most most of the densities, taking turns between the kinds
// (normal first) so that a study's many probes, listed kind after kind, leave both
// drawn; each kind's in their order, normal ones first.
func fewOfEachKind(densities []densityOfPoint, most int) []DensitySeries {
	kinds := []string{"normal", "corrupted", "imported", "-"}
	byKind := map[string][]DensitySeries{}
	for _, d := range densities {
		if !slices.Contains(kinds, d.kind) {
			kinds = append(kinds, d.kind)
		}
		byKind[d.kind] = append(byKind[d.kind], d.series)
	}
	taken := map[string]int{}
	for n, took := 0, true; n < most && took; { // a round takes one of each kind left
		took = false
		for _, kind := range kinds {
			if taken[kind] < len(byKind[kind]) && n < most {
				taken[kind]++
				n++
				took = true
			}
		}
	}
	var out []DensitySeries
	for _, kind := range kinds {
		out = append(out, byKind[kind][:taken[kind]]...)
	}
	return out
}

// colorOf is the colour of a point's kind in the figures.
func colorOf(kind string) color.Color {
	switch kind {
	case "corrupted":
		return colorCorrupted
	case "imported":
		return colorThird
	}
	return colorNormal
}

func fmtNum(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.4g", v)
}

func (rep *Report) addTableRow(title string, header, row []string) {
	for i := range rep.Tables {
		if rep.Tables[i].Title == title {
			rep.Tables[i].Rows = append(rep.Tables[i].Rows, row)
			return
		}
	}
	rep.Tables = append(rep.Tables, Table{Title: title, Header: header, Rows: [][]string{row}})
}

func fmtSummary(s *Summary, scale float64, digits int) string {
	if s == nil {
		return "-"
	}
	if s.N < 2 { // one run has no spread to show
		return fmt.Sprintf("%.*f", digits, s.Mean*scale)
	}
	return fmt.Sprintf("%.*f ± %.*f", digits, s.Mean*scale, digits, s.Std*scale)
}

// numbersTable lists, per (dataset, model), our final numbers beside the authors'.
func (rep *Report) numbersTable(keys []groupKey, groups map[groupKey]*group) {
	const title = "Final numbers: ours (mean ± std over runs) beside the authors'"
	header := []string{"dataset/model", "λ", "kind", "runs", "epochs", "train acc %", "test acc %", "corrupted acc %",
		"weight norm (sum)", "authors' norm (sum)", "dist from init (L2)"}
	for _, k := range keys {
		g := groups[k]
		for _, kind := range []struct {
			name string
			runs []*RunRecord
		}{{"normal", g.normal}, {"corrupted", g.corrupted}} {
			if len(kind.runs) == 0 {
				continue
			}
			st := statsOf(kind.runs, ReportSettings{}.withDefaults())
			authors := "-"
			if a, ok := authorsFigures[k.name()]; ok && k.WeightDecay == 0 {
				norm, std := a.NormalWeightNormSum, a.NormalWeightNormSumStd
				if kind.name == "corrupted" {
					norm, std = a.ExtremeWeightNormSum, a.ExtremeWeightNormSumStd
				}
				if norm > 0 {
					authors = fmt.Sprintf("%.1f ± %.1f (%d epochs)", norm, std, a.Epochs)
					if a.CarriedBiases {
						authors = fmt.Sprintf("%.1f ± %.1f (%d epochs, biases carried over from run to run)", norm, std, a.Epochs)
					}
				}
			}
			rep.addTableRow(title, header, []string{k.name(), fmt.Sprintf("%g", k.WeightDecay), kind.name,
				fmt.Sprint(st.Runs), fmt.Sprint(st.Epochs), fmtSummary(st.TrainAcc, 100, 2), fmtSummary(st.TestAcc, 100, 2),
				fmtSummary(st.CorruptedAcc, 100, 2), fmtSummary(st.WeightNormSum, 1, 1), authors, fmtSummary(st.DistFromInit, 1, 1)})
		}
	}
}
