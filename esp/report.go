package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/extremepoints/esp/analysis"
	"github.com/extremepoints/esp/experiment"
)

func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("report", stderr, "report --in DIR [--out DIR]")
	in := fs.String("in", "", "directory holding runs (esp run, esp train) and probes (esp probe), searched recursively")
	out := fs.String("out", "", "report directory (default IN/report)")
	var settings analysis.ReportSettings
	fs.Float64Var(&settings.ExtremeTrainAcc, "extreme-train-acc", 0.95, "clean-training accuracy a corrupted run must reach to be an extreme point")
	fs.Float64Var(&settings.ExtremeTestAcc, "extreme-test-acc", 0.05, "test accuracy an extreme point must stay under")
	fs.Float64Var(&settings.Alpha, "alpha", 0.01, "significance level of the rank test (C3)")
	if rest, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("unexpected arguments %q", rest)
	}
	if *in == "" {
		return usagef("--in DIR is required: a directory of runs and probes")
	}
	for _, v := range []struct {
		flag  string
		value float64
	}{{"extreme-train-acc", settings.ExtremeTrainAcc}, {"extreme-test-acc", settings.ExtremeTestAcc}, {"alpha", settings.Alpha}} {
		if !(v.value > 0 && v.value <= 1) {
			return usagef("--%s %v: want a value in (0, 1], above 0 and at most 1", v.flag, v.value)
		}
	}
	if st, err := os.Stat(*in); err != nil || !st.IsDir() {
		return usagef("--in %s: not a directory", *in)
	}
	if *out == "" {
		*out = filepath.Join(*in, "report")
	}
	if err := experiment.CheckResumableDir(*out, analysis.ReportSummaryFile, "a report directory"); err != nil {
		return err
	}
	rep, err := analysis.WriteReportFromDir(ctx, *in, *out, settings, stderr)
	if errors.Is(err, context.Canceled) {
		return interruptedf("interrupted: the report was not written (%s is as it was)", *out)
	}
	if err != nil {
		return badInput(err) // what is under --in is the user's input
	}
	held := printClaims(stdout, rep)
	fmt.Fprintf(stdout, "%d of %d claims hold; %d figures; report: %s\n", held, len(rep.Summary.Claims), len(rep.Figures),
		filepath.Join(*out, "index.html"))
	return nil
}

// printClaims prints one line per claim verdict and untested claim; it returns how many hold.
func printClaims(w io.Writer, rep *analysis.Report) (held int) {
	for _, c := range rep.Summary.Claims {
		mark := "does not hold"
		if c.Holds {
			mark, held = "holds", held+1
		}
		if outcome, ok := c.Evidence["outcome"].(string); ok { // how near its criterion
			mark += " (" + outcome + ")"
		}
		fmt.Fprintf(w, "%s %s/%s: %s\n", c.ID, c.Dataset, c.Model, mark)
	}
	for _, u := range rep.Summary.Untested {
		fmt.Fprintf(w, "%s %s/%s: not tested (%s)\n", u.ID, u.Dataset, u.Model, u.Reason)
	}
	for _, c := range rep.Summary.Sharpness {
		if line := sharpnessComparisonLine(c); line != "" {
			fmt.Fprintln(w, line)
		}
	}
	return held
}

// sharpnessComparisonLine is the line on a sharpness comparison that could test its kinds
// (two points of each or more; "" otherwise): beyond the paper's claims, the medians and
// p-values of the extreme points against the normal ones.
func sharpnessComparisonLine(c analysis.SharpnessComparison) string {
	name := c.Dataset + "/" + c.Model
	if c.WeightDecay != 0 {
		name += fmt.Sprintf(" (λ=%g)", c.WeightDecay)
	}
	if c.HVP != analysis.HVPExact {
		name += " (" + c.HVP + " H·v)"
	}
	if c.TopEigenvalue.Test == nil {
		if c.Note != "" { // the runs trained differently
			return fmt.Sprintf("sharpness %s, extreme vs normal points: %s", name, c.Note)
		}
		return ""
	}
	measure := func(label, unit string, t *analysis.SharpnessTest) string {
		text := fmt.Sprintf("%s %.3g%s vs %.3g%s", label, t.Extreme.Median, unit, t.Normal.Median, unit)
		if t.Test != nil {
			text += fmt.Sprintf(", p %.3g", t.Test.P)
		}
		return text
	}
	parts := []string{measure("λ_max", "", &c.TopEigenvalue), measure("trace", "", &c.Trace)}
	if c.OutlierGap != nil {
		parts = append(parts, measure("outlier gap", "x", c.OutlierGap))
	}
	if c.OutliersNote != "" {
		parts = append(parts, c.OutliersNote)
	}
	return fmt.Sprintf("sharpness %s, extreme vs normal points (%d + %d, medians): %s", name,
		c.TopEigenvalue.Extreme.N, c.TopEigenvalue.Normal.N, strings.Join(parts, "; "))
}
