package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/extremepoints/esp/analysis"
	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/experiment"
)

func TestCheckSharpnessSource(t *testing.T) {
	tests := []struct {
		run, study string
		wantErr    string // "" for none
	}{
		{"r", "", ""},
		{"", "s", ""},
		{"r", "s", "--run and --study: give --run DIR for one run or --study DIR"},
		{"", "", "--run DIR (one run) or --study DIR (every finished run of a study) is required"},
	}
	for _, tt := range tests {
		err := checkSharpnessSource(tt.run, tt.study)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("run %q study %q: %v", tt.run, tt.study, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, new(usageError)) {
			t.Errorf("run %q study %q: got %v, want a usage error with %q", tt.run, tt.study, err, tt.wantErr)
		}
	}
}

func TestSettingsDiff(t *testing.T) {
	base := analysis.SharpnessSettings{}.WithDefaults()
	with := func(change func(*analysis.SharpnessSettings)) analysis.SharpnessSettings {
		s := base
		change(&s)
		return s
	}
	tests := []struct {
		name     string
		was, now analysis.SharpnessSettings
		want     []string
	}{
		{"same", base, base, nil},
		{"iterations", base, with(func(s *analysis.SharpnessSettings) { s.Iterations = 50 }), []string{"iterations 20 (this batch: 50)"}},
		{"seed and hvp, sorted", with(func(s *analysis.SharpnessSettings) { s.Seed = 3 }), with(func(s *analysis.SharpnessSettings) { s.HVP = analysis.HVPFiniteDifference }),
			[]string{`hvp "exact" (this batch: "finite-difference")`, "seed 3 (this batch: 0)"}},
		{"a setting left out", base, with(func(s *analysis.SharpnessSettings) { s.DensityVectors = 2 }), []string{"density_vectors none (this batch: 2)"}},
	}
	for _, tt := range tests {
		if got := settingsDiff(tt.was, tt.now); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestRankTestLine(t *testing.T) {
	tests := []struct {
		name            string
		extreme, normal []float64
		want            string
	}{
		{"every extreme point above", []float64{4, 5, 6}, []float64{1, 2, 3},
			"rank test trace: P(corrupted > normal) 1, p 0.1 (exact; at best 0.1 with 3 corrupted and 3 normal points)"},
		{"every extreme point below", []float64{1, 2}, []float64{3, 4},
			"rank test trace: P(corrupted > normal) 0, p 0.333 (exact; at best 0.333 with 2 corrupted and 2 normal points)"},
		{"ties: normal approximation", []float64{1, 2, 2}, []float64{2, 3},
			"rank test trace: P(corrupted > normal) 0.167, p 0.333 (normal approximation; at best 0.2 with 3 corrupted and 2 normal points)"},
		{"too few extreme points", []float64{1}, []float64{1, 2, 3},
			"rank test trace: not done: it needs 2 points of each kind, there are 1 corrupted and 3 normal"},
		{"no normal points", []float64{1, 2}, nil,
			"rank test trace: not done: it needs 2 points of each kind, there are 2 corrupted and 0 normal"},
	}
	for _, tt := range tests {
		if got := rankTestLine("trace", tt.extreme, tt.normal); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}

func TestKindSharpnessLine(t *testing.T) {
	tests := []struct {
		name string
		v    kindValues
		want string
	}{
		{"odd count", kindValues{3, []float64{3, 1, 2}, []float64{30, 10, 20}, nil, nil}, "summary normal: 3 points, median top eigenvalue 2, median trace 20"},
		{"even count: the mean of the middle two", kindValues{2, []float64{1, 2}, []float64{10, 20}, nil, nil}, "summary normal: 2 points, median top eigenvalue 1.5, median trace 15"},
		{"a value not finite", kindValues{2, []float64{1, 2}, []float64{10}, nil, nil},
			"summary normal: 2 points, median top eigenvalue 1.5, median trace 10 (1 trace not finite, left out)"},
		{"outliers of one point of two", kindValues{2, []float64{1, 2}, []float64{10, 20}, []float64{9}, []float64{2.5}},
			"summary normal: 2 points, median top eigenvalue 1.5, median trace 15, median outliers 9 above a gap of 2.5x (1 without 3 positive eigenvalues, left out)"},
		{"none", kindValues{}, "summary normal: 0 points"},
	}
	for _, tt := range tests {
		if got := kindSharpnessLine("normal", &tt.v); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}

func TestBatchSummary(t *testing.T) {
	point := func(kind string) batchProbe { return batchProbe{studyPoint: studyPoint{kind: kind}} }
	result := func(lambda, trace float64) *analysis.SharpnessResult {
		return &analysis.SharpnessResult{TopEigenvalue: experiment.Float(lambda), Trace: experiment.Float(trace)}
	}
	top := func(values ...float64) *analysis.SharpnessResult { // --top K: the K largest, trace 0
		r := result(values[0], 0)
		for _, v := range values {
			r.TopEigenvalues = append(r.TopEigenvalues, experiment.Float(v))
		}
		return r
	}
	tests := []struct {
		name    string
		kinds   []string
		batch   []batchProbe
		results []*analysis.SharpnessResult
		want    []string
	}{
		{"both kinds", []string{"normal", "corrupted"},
			[]batchProbe{point("normal"), point("normal"), point("corrupted"), point("corrupted")},
			[]*analysis.SharpnessResult{result(1, 10), result(2, 20), result(3, 5), result(math.NaN(), 40)},
			[]string{
				"summary normal: 2 points, median top eigenvalue 1.5, median trace 15",
				"summary corrupted: 2 points, median top eigenvalue 3 (1 top eigenvalue not finite, left out), median trace 22.5",
				"rank test top eigenvalue: not done: it needs 2 points of each kind, there are 1 corrupted and 2 normal",
				"rank test trace: P(corrupted > normal) 0.5, p 1 (exact; at best 0.333 with 2 corrupted and 2 normal points)",
			}},
		{"with the largest eigenvalues: outliers", []string{"normal", "corrupted"},
			[]batchProbe{point("normal"), point("normal"), point("corrupted"), point("corrupted")},
			[]*analysis.SharpnessResult{top(9, 2, 1.9, 1), top(10, 8, 2, 1.9), top(12, 11, 10, 1), top(13, -1)},
			[]string{
				"summary normal: 2 points, median top eigenvalue 9.5, median trace 0, median outliers 1.5 above a gap of 4.25x",
				"summary corrupted: 2 points, median top eigenvalue 12.5, median trace 0, median outliers 3 above a gap of 10x (1 without 3 positive eigenvalues, left out)",
				"rank test top eigenvalue: P(corrupted > normal) 1, p 0.333 (exact; at best 0.333 with 2 corrupted and 2 normal points)",
				"rank test trace: P(corrupted > normal) 0.5, p 1 (normal approximation; at best 0.333 with 2 corrupted and 2 normal points)",
				"rank test outliers: not done: it needs 2 points of each kind, there are 1 corrupted and 2 normal",
				"rank test outlier gap: not done: it needs 2 points of each kind, there are 1 corrupted and 2 normal",
			}},
		{"a study of normal runs only", []string{"normal"},
			[]batchProbe{point("normal"), point("normal")},
			[]*analysis.SharpnessResult{result(1, 10), result(2, 20)},
			[]string{
				"summary normal: 2 points, median top eigenvalue 1.5, median trace 15",
				"rank test top eigenvalue: not done: it needs 2 points of each kind, there are 0 corrupted and 2 normal",
				"rank test trace: not done: it needs 2 points of each kind, there are 0 corrupted and 2 normal",
			}},
	}
	for _, tt := range tests {
		if got := batchSummary(tt.kinds, tt.batch, tt.results); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

func TestPointLabel(t *testing.T) {
	for _, tt := range []struct{ name, weights, want string }{
		{"normal-0001", "final", "normal-0001"},
		{"corrupted-0000", "init", "corrupted-0000:init"},
	} {
		if got := pointLabel(tt.name, tt.weights); got != tt.want {
			t.Errorf("pointLabel(%q, %q) = %q, want %q", tt.name, tt.weights, got, tt.want)
		}
	}
}

// TestScanStudyOut checks which contents of a batch's --out are its own (kept or started
// again) and which are refused.
func TestScanStudyOut(t *testing.T) {
	study := func(root string) *experiment.StudyResult {
		return &experiment.StudyResult{Dir: filepath.Join(root, "study"), Settings: experiment.StudySettings{Runs: 2}}
	}
	run := func(root, name string) string { return filepath.Join(root, "study", experiment.RunsDir, name) }
	writeProbe := func(t *testing.T, dir string, info analysis.ProbeInfo, files ...string) {
		t.Helper()
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		data, err := json.Marshal(info)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, analysis.ProbeInfoFile), data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(dir, f), []byte("{}"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	finished := time.Now()
	tests := []struct {
		name string
		make func(t *testing.T, root, out string)
		// want: run name -> whether its probe is finished; wantErr: a refusal's text.
		want    map[string]bool
		wantErr string
	}{
		{"missing", func(t *testing.T, root, out string) {}, map[string]bool{}, ""},
		{"empty, and an empty probe directory", func(t *testing.T, root, out string) {
			if err := os.MkdirAll(filepath.Join(out, "normal-0000"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, map[string]bool{}, ""},
		{"finished and interrupted probes of the study's runs", func(t *testing.T, root, out string) {
			writeProbe(t, filepath.Join(out, "normal-0001"), analysis.ProbeInfo{Probe: "sharpness", Run: run(root, "normal-0001"), Finished: &finished}, analysis.SharpnessFile)
			writeProbe(t, filepath.Join(out, "corrupted-0000"), analysis.ProbeInfo{Probe: "sharpness", Run: run(root, "corrupted-0000")}, ".tmp-sharpness.json-123")
		}, map[string]bool{"normal-0001": true, "corrupted-0000": false}, ""},
		{"a file", func(t *testing.T, root, out string) {
			if err := os.MkdirAll(out, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(out, "notes.txt"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}, nil, "holds notes.txt, which is not the probe of a run of the study"},
		{"a run the study does not have", func(t *testing.T, root, out string) {
			writeProbe(t, filepath.Join(out, "normal-0002"), analysis.ProbeInfo{Probe: "sharpness", Run: run(root, "normal-0002")})
		}, nil, "holds normal-0002, which is not the probe of a run of the study"},
		{"a probe of another study's run", func(t *testing.T, root, out string) {
			writeProbe(t, filepath.Join(out, "normal-0000"), analysis.ProbeInfo{Probe: "sharpness", Run: filepath.Join(root, "other", "runs", "normal-0000"), Finished: &finished})
		}, nil, "not from the study's run"},
		{"another probe", func(t *testing.T, root, out string) {
			writeProbe(t, filepath.Join(out, "normal-0000"), analysis.ProbeInfo{Probe: "restart", Run: run(root, "normal-0000")})
		}, nil, "holds a restart probe, not a sharpness one"},
		{"a file a probe does not write", func(t *testing.T, root, out string) {
			writeProbe(t, filepath.Join(out, "normal-0000"), analysis.ProbeInfo{Probe: "sharpness", Run: run(root, "normal-0000")}, "mine.txt")
		}, nil, "holds mine.txt, which a sharpness probe does not write"},
		{"files without probe.json", func(t *testing.T, root, out string) {
			dir := filepath.Join(out, "normal-0000")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, analysis.SharpnessFile), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}, nil, "holds no readable probe.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			out := filepath.Join(root, "out")
			tt.make(t, root, out)
			found, err := scanStudyOut(out, study(root))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, experiment.ErrForeignDir) {
					t.Fatalf("got %v, want ErrForeignDir with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for name, info := range found {
				got[name] = info.Finished != nil
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("found %v, want %v", got, tt.want)
			}
		})
	}
}

// tinyDataset is a dataset of 1x1 images, train and test examples, two classes.
func tinyDataset(name string, train, test int) *datasets.Dataset {
	split := func(n int) *datasets.Split {
		return &datasets.Split{Images: make([]uint8, n), Labels: make([]uint8, n), Height: 1, Width: 1, Channels: 1}
	}
	return &datasets.Dataset{Name: name, Classes: []string{"a", "b"}, Train: split(train), Test: split(test)}
}

// TestPointDataOf checks each run's examples: what it held, or --subset's, from a dataset
// loaded once.
func TestPointDataOf(t *testing.T) {
	config := func(train, test, classes int) *experiment.RunConfig {
		return &experiment.RunConfig{Dataset: experiment.DatasetInfo{Name: "pets", Train: train, Test: test, Classes: classes}}
	}
	tests := []struct {
		name                string
		subsetGiven         bool
		loaded              *datasets.Dataset // what --subset left of the dataset
		config              *experiment.RunConfig
		wantTrain, wantTest int
		wantErr             string
	}{
		{"what the run held", false, tinyDataset("pets", 10, 8), config(6, 4, 2), 6, 4, ""},
		{"--subset, whatever the run held", true, tinyDataset("pets", 3, 3), config(6, 4, 2), 3, 3, ""},
		{"a run that held more than the dataset has", false, tinyDataset("pets", 5, 8), config(6, 4, 2), 0, 0, "held 6 training and 4 test examples of pets, the dataset has 5 and 8"},
		{"other classes", false, tinyDataset("pets", 10, 8), config(6, 4, 3), 0, 0, "dataset pets has 2 classes, the run r was trained on 3"},
	}
	for _, tt := range tests {
		d := newPointData(dataFlags{subset: 3}, tt.subsetGiven)
		d.loaded["pets"] = tt.loaded // as if loaded: a second run does not load it again
		ds, err := d.of(context.Background(), "r", tt.config, io.Discard)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: got %v, want %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if ds.Train.Len() != tt.wantTrain || ds.Test.Len() != tt.wantTest {
			t.Errorf("%s: %d and %d examples, want %d and %d", tt.name, ds.Train.Len(), ds.Test.Len(), tt.wantTrain, tt.wantTest)
		}
	}
	if d := newPointData(dataFlags{subset: 3}, false); d.flags.subset != 0 {
		t.Errorf("without --subset the dataset is loaded whole, not cut to %d", d.flags.subset)
	}
}

func TestSameProbeData(t *testing.T) {
	ds := tinyDataset("pets", 6, 4)
	tests := []struct {
		was     analysis.ProbeDataset
		wantErr string
	}{
		{analysis.ProbeDataset{Name: "pets", Train: 6, Test: 4}, ""},
		{analysis.ProbeDataset{Name: "pets", Train: 3, Test: 3}, "measured on 3 training and 3 test examples of pets, this batch uses 6 and 4 of pets (another --subset?)"},
		{analysis.ProbeDataset{Name: "cats", Train: 6, Test: 4}, "examples of cats, this batch uses 6 and 4 of pets"},
	}
	for _, tt := range tests {
		err := sameProbeData("out/normal-0000", tt.was, ds)
		if (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%+v: got %v, want %q", tt.was, err, tt.wantErr)
		}
	}
}

func TestRecordedSharpnessSettings(t *testing.T) {
	s := analysis.SharpnessSettings{DensityVectors: 2, Seed: 7}.WithDefaults()
	var asRead any // probe.json's settings as ReadProbeInfo gives them: a map
	data, _ := json.Marshal(s)
	if err := json.Unmarshal(data, &asRead); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		settings any
		want     analysis.SharpnessSettings
		wantErr  bool
	}{
		{"as written", asRead, s, false},
		{"none", nil, analysis.SharpnessSettings{}, false},
		{"before there was a choice of solver", map[string]any{"iterations": 20.0}, analysis.SharpnessSettings{Solver: analysis.SolverPower, Iterations: 20}, false},
		{"another probe's", map[string]any{"iterations": "many"}, analysis.SharpnessSettings{}, true},
	}
	for _, tt := range tests {
		got, err := recordedSharpnessSettings(&analysis.ProbeInfo{Settings: tt.settings})
		if (err != nil) != tt.wantErr || err == nil && got != tt.want {
			t.Errorf("%s: got %+v, %v; want %+v (error %v)", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestStudyPoints(t *testing.T) {
	result := func(kind string, index int, status string) experiment.RunResult {
		return experiment.RunResult{StudyRun: experiment.StudyRun{Kind: kind, Index: index}, Status: status}
	}
	study := &experiment.StudyResult{Dir: "st",
		Finished: []experiment.RunResult{result("normal", 0, experiment.StatusOK), result("corrupted", 0, experiment.StatusDiverged), result("corrupted", 1, experiment.StatusOK)},
		Missing:  []experiment.StudyRun{{Kind: "normal", Index: 1}},
	}
	tests := []struct {
		weights    string
		want       []string // run names
		wantStderr []string
	}{
		{"final", []string{"normal-0000", "corrupted-0001"}, []string{
			"skipping normal-0001: its training has not finished (esp run --out st resumes it)",
			"skipping corrupted-0000: it diverged, its final weights are not a point to measure"}},
		{"init", []string{"normal-0000", "corrupted-0000", "corrupted-0001"}, []string{ // a diverged run started from finite weights
			"skipping normal-0001: its training has not finished"}},
	}
	for _, tt := range tests {
		var stderr strings.Builder
		var got []string
		for _, p := range studyPoints(study, tt.weights, "out", &stderr) {
			got = append(got, p.name)
			if want := filepath.Join("st", "runs", p.name); p.point.Run != want || p.dir != filepath.Join("out", p.name) || p.point.Weights != tt.weights {
				t.Errorf("%s: point %+v, want run %s, directory out/%s", p.name, p, want, p.name)
			}
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("--weights %s: points %v, want %v", tt.weights, got, tt.want)
		}
		for _, line := range tt.wantStderr {
			if !strings.Contains(stderr.String(), line) {
				t.Errorf("--weights %s: stderr %q lacks %q", tt.weights, stderr.String(), line)
			}
		}
	}
}

func TestLoadStudyDir(t *testing.T) {
	root := t.TempDir()
	run := filepath.Join(root, "run")
	if err := os.MkdirAll(run, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(run, experiment.ConfigFile), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		dir, wantErr string
	}{
		{filepath.Join(root, "missing"), "has no study.json (esp run --out DIR makes one; a reproduction's are OUT/studies/PAIR)"},
		{run, "has no study.json (it is a run directory: give it with --run)"},
		{filepath.Join(run, experiment.ConfigFile), "is not a study directory"},
	}
	for _, tt := range tests {
		_, err := loadStudyDir(tt.dir)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, new(usageError)) {
			t.Errorf("%s: got %v, want a usage error with %q", tt.dir, err, tt.wantErr)
		}
	}
}
