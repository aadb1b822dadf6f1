package analysis

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/extremepoints/esp/experiment"
)

// RunRecord is one training run found under a report's input: its configuration and
// per-epoch metrics (epoch 0 is the initialization); or a run imported from another
// program's weights (esp import), with no metrics.
type RunRecord struct {
	Dir     string
	Config  experiment.RunConfig
	Metrics []experiment.EpochMetrics
	// finalChecksum is the checksum final.safetensors records, read with its header.
	finalChecksum string
}

// Corrupted reports whether the run trained on a corrupted set (an extreme point).
func (r *RunRecord) Corrupted() bool { return r.Config.Dataset.Corrupted }

// Imported reports whether the run is weights imported from another program (esp import):
// how they were trained is not known, and it has no metrics.
func (r *RunRecord) Imported() bool { return r.Config.Imported != nil }

// Final returns the last epoch's metrics (LoadInputs reads runs with epoch 0 at least), or
// the zero EpochMetrics for a record without any.
func (r *RunRecord) Final() experiment.EpochMetrics {
	if len(r.Metrics) == 0 {
		return experiment.EpochMetrics{}
	}
	return r.Metrics[len(r.Metrics)-1]
}

// ProbeRecord is one probe output directory: its kind ("restart", "fullbatch",
// "interpolate", "surface", "sharpness"), its probe.json and its data.
type ProbeRecord struct {
	Dir  string
	Kind string
	Info map[string]any
	// Source is the run the probe started from, when it could be found.
	Source *RunRecord
	// SourceChanged names the run at the place the probe recorded when its weights are no
	// longer those probed (trained again since); Source is then nil.
	SourceChanged string
	// Lines holds the JSON lines of restart.jsonl, fullbatch.jsonl, interpolate.jsonl or
	// surface1d.jsonl.
	Lines []map[string]any
	// Object holds surface2d.json or sharpness.json.
	Object map[string]any
}

// probeDataFiles maps a probe's data file to its kind; a probe directory holds probe.json
// and one of these (surface has both surface files).
var probeDataFiles = []struct{ file, kind string }{
	{"restart.jsonl", "restart"}, {"fullbatch.jsonl", "fullbatch"}, {"interpolate.jsonl", "interpolate"},
	{"surface1d.jsonl", "surface"}, {"surface2d.json", "surface"}, {"sharpness.json", "sharpness"},
}

// Inputs is everything a report is made from.
type Inputs struct {
	Runs   []*RunRecord
	Probes []*ProbeRecord
	// Unfinished lists the probe directories left out because their probe did not
	// complete (probe.json without "finished").
	Unfinished []string
	// UnfinishedRuns lists the run directories left out because their training did not
	// finish (no final weights: an interrupted esp train).
	UnfinishedRuns []string
	// Points are the runs trained as probes' starting points (under a PointFile
	// marker), and the imported runs (esp import): probes link to them, the
	// distributions of runs leave them out.
	Points []*RunRecord
	// IncompleteStudies are the study directories found (study.json) that hold fewer of
	// their planned runs than they plan: other shards, or the study, are unfinished.
	IncompleteStudies []StudyPresence
}

// StudyPresence is a study directory under a report's input and how many of the runs it
// plans are there, finished.
type StudyPresence struct {
	Dir     string `json:"dir"`
	Planned int    `json:"planned"`
	Present int    `json:"present"`
}

// LoadInputs walks root and reads every run directory (config.json + metrics.jsonl) and
// probe directory (probe.json) under it; temporary directories of unfinished runs and
// probes that did not complete are left out, so the report merges whatever finished runs,
// shards and probes are present.
func LoadInputs(root string) (*Inputs, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("report input: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("report input %s is not a directory", root)
	}
	in := &Inputs{}
	byDir := map[string]*RunRecord{}
	var probeDirs, pointDirs []string
	var studies []StudyPresence
	underPoint := func(path string) bool {
		for _, d := range pointDirs {
			if rel, err := filepath.Rel(d, path); err == nil && !strings.HasPrefix(rel, "..") {
				return true
			}
		}
		return false
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".tmp-") || strings.HasPrefix(d.Name(), ".") && path != root {
			return fs.SkipDir
		}
		if exists(filepath.Join(path, "probe.json")) {
			probeDirs = append(probeDirs, path)
			return nil
		}
		if exists(filepath.Join(path, PointFile)) {
			pointDirs = append(pointDirs, path)
		}
		if exists(filepath.Join(path, experiment.StudyFile)) {
			s, err := experiment.ReadStudySettings(path)
			if err != nil {
				return err
			}
			studies = append(studies, StudyPresence{Dir: path, Planned: len(s.Plan())})
		}
		hasConfig, hasMetrics := exists(filepath.Join(path, experiment.ConfigFile)), exists(filepath.Join(path, experiment.MetricsFile))
		if hasMetrics && !hasConfig {
			return fmt.Errorf("%w: %s has %s but no %s: restore it, or delete the run", experiment.ErrDamagedRun, path, experiment.MetricsFile, experiment.ConfigFile)
		}
		if hasConfig && !hasMetrics && exists(filepath.Join(path, experiment.FinalWeightsFile)) {
			run, err := loadImportedRun(path)
			if err != nil {
				return err
			}
			if run != nil {
				byDir[filepath.Clean(path)] = run
				in.Points = append(in.Points, run)
				return fs.SkipDir
			}
		}
		if hasConfig && hasMetrics {
			run, err := loadRun(path) // first: it refuses another version's run
			if err != nil {
				return err
			}
			if !exists(filepath.Join(path, experiment.FinalWeightsFile)) {
				in.UnfinishedRuns = append(in.UnfinishedRuns, path)
				return fs.SkipDir
			}
			if len(run.Metrics) == 0 {
				return fmt.Errorf("%w: %s has final weights but an empty %s: restore it, or delete the run", experiment.ErrDamagedRun, path, experiment.MetricsFile)
			}
			if err := checkMetricsComplete(run); err != nil {
				return err
			}
			if err := checkFinalWeights(run); err != nil {
				return err
			}
			byDir[filepath.Clean(path)] = run
			if underPoint(path) {
				in.Points = append(in.Points, run)
			} else {
				in.Runs = append(in.Runs, run)
			}
			return fs.SkipDir
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, st := range studies {
		runs := filepath.Join(st.Dir, experiment.RunsDir)
		for dir := range byDir {
			if filepath.Dir(dir) == filepath.Clean(runs) {
				st.Present++
			}
		}
		if st.Present < st.Planned {
			in.IncompleteStudies = append(in.IncompleteStudies, st)
		}
	}
	for _, dir := range probeDirs {
		p, err := loadProbe(dir, byDir)
		if err != nil {
			return nil, err
		}
		if p == nil || p.Info["finished"] == nil {
			in.Unfinished = append(in.Unfinished, dir)
			continue
		}
		in.Probes = append(in.Probes, p)
	}
	sort.Slice(in.Runs, func(i, j int) bool { return in.Runs[i].Dir < in.Runs[j].Dir })
	return in, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func loadRun(dir string) (*RunRecord, error) {
	config, err := LoadRunConfig(dir) // as the probes read it: format and settings checked
	if err != nil {
		return nil, err
	}
	r := &RunRecord{Dir: dir, Config: *config}
	path := filepath.Join(dir, experiment.MetricsFile)
	if r.Metrics, err = ReadProbeLines[experiment.EpochMetrics](path); err != nil {
		return nil, fmt.Errorf("%w: %w: restore it, or delete the run (a study trains it again when resumed)", experiment.ErrDamagedRun, err)
	}
	for i, m := range r.Metrics {
		if err := checkAccuracies(m); err != nil {
			return nil, fmt.Errorf("%w: %s line %d: %w: restore it, or delete the run (a study trains it again when resumed)", experiment.ErrDamagedRun, path, i+1, err)
		}
	}
	return r, nil
}

// loadImportedRun reads the run esp import wrote in dir (config.json and final weights),
// or returns nil if dir holds another config.json without metrics.
func loadImportedRun(dir string) (*RunRecord, error) {
	config, err := LoadRunConfig(dir)
	if err != nil {
		return nil, err
	}
	if config.Imported == nil {
		return nil, nil
	}
	r := &RunRecord{Dir: dir, Config: *config}
	if err := checkFinalWeights(r); err != nil {
		return nil, err
	}
	return r, nil
}

// checkFinalWeights refuses a run whose final weights are of another model than its
// config.json describes (edited since, or another run's weights): the report would file
// it under the wrong model. It reads the weights' header only.
func checkFinalWeights(run *RunRecord) error {
	path := filepath.Join(run.Dir, experiment.FinalWeightsFile)
	meta, err := experiment.ReadWeightsMetadata(path)
	if err != nil {
		return fmt.Errorf("%w: %w: restore it, or delete the run", experiment.ErrDamagedRun, err)
	}
	run.finalChecksum = meta[experiment.WeightsChecksumKey]
	return checkWeightsOf(path, meta, run.Dir, &run.Config)
}

// checkMetricsComplete refuses a finished run whose metrics.jsonl does not run from epoch 0
// to its config's last epoch, or to the epoch it diverged in: a file cut short, even at a
// line's end, would show the run stopped early, its final point as an earlier epoch's.
func checkMetricsComplete(run *RunRecord) error {
	path := filepath.Join(run.Dir, experiment.MetricsFile)
	for i, m := range run.Metrics {
		if m.Epoch != i {
			return fmt.Errorf("%w: %s line %d is epoch %d, want %d: restore it, or delete the run", experiment.ErrDamagedRun, path, i+1, m.Epoch, i)
		}
	}
	last := run.Final()
	if want := run.Config.Settings.Epochs; last.Status != experiment.StatusDiverged && last.Epoch != want {
		return fmt.Errorf("%w: %s ends at epoch %d, but the run has final weights and %s says %d epochs: restore it, or delete the run",
			experiment.ErrDamagedRun, path, last.Epoch, experiment.ConfigFile, want)
	}
	return nil
}

// checkAccuracies refuses accuracies outside [0, 1] (NaN, a diverged run's, passes):
// such a file was not written by a run.
func checkAccuracies(m experiment.EpochMetrics) error {
	for _, a := range []struct {
		name  string
		value *experiment.Float // nil: not recorded
	}{{"train_acc", &m.TrainAcc}, {"test_acc", &m.TestAcc}, {"corrupted_acc", m.CorruptedAcc}, {"fit_acc", m.FitAcc}} {
		if a.value != nil && (*a.value < 0 || *a.value > 1) {
			return fmt.Errorf("%s %v is not an accuracy (0 to 1)", a.name, float64(*a.value))
		}
	}
	return nil
}

// ReadProbeLines reads a JSON-lines file a probe or a run wrote (restart.jsonl,
// fullbatch.jsonl, metrics.jsonl, ...) into values of T, such as RestartEpoch or
// experiment.EpochMetrics. The error names the file and line.
func ReadProbeLines[T any](path string) ([]T, error) {
	lines, err := readJSONLines(path)
	if err != nil {
		return nil, err
	}
	out := make([]T, len(lines))
	for i, line := range lines {
		if err := json.Unmarshal(line, &out[i]); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, i+1, err)
		}
	}
	return out, nil
}

func readJSONLines(path string) ([]json.RawMessage, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []json.RawMessage
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			out = append(out, json.RawMessage(bytes.Clone(line)))
		}
	}
	return out, sc.Err()
}

func loadProbe(dir string, runs map[string]*RunRecord) (*ProbeRecord, error) {
	p := &ProbeRecord{Dir: dir}
	data, err := os.ReadFile(filepath.Join(dir, "probe.json"))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &p.Info); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "probe.json"), err)
	}
	if format, _ := p.Info["format"].(string); format != ProbeFormat {
		return nil, fmt.Errorf("%s has format %q, this toolkit reads %q: a probe from another version; move it out of the report's input",
			filepath.Join(dir, "probe.json"), format, ProbeFormat)
	}
	for _, f := range probeDataFiles {
		path := filepath.Join(dir, f.file)
		if !exists(path) {
			continue
		}
		p.Kind = f.kind
		if strings.HasSuffix(f.file, ".jsonl") {
			lines, err := ReadProbeLines[map[string]any](path)
			if err != nil {
				return nil, err
			}
			p.Lines = append(p.Lines, lines...)
		} else {
			raw, err := os.ReadFile(path)
			if err != nil {
				return nil, err
			}
			if err := json.Unmarshal(raw, &p.Object); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
		}
	}
	if p.Kind == "" {
		return nil, nil // a probe that has not written its data yet
	}
	p.Source, p.SourceChanged = findSourceRun(p.Info, dir, runs)
	return p, nil
}

// movedRun finds the run a path recorded before its directory was moved or copied
// (probe.json records absolute paths) now names: the one run whose path ends with the
// most of the same folders, at least minMovedSuffix of them (studies/PAIR/runs/RUN),
// so that a run of another pair or a point run (probes/PAIR/point/runs/RUN) is not taken.
func movedRun(path string, runs map[string]*RunRecord) *RunRecord {
	const minMovedSuffix = 3
	recorded := strings.Split(filepath.ToSlash(filepath.Clean(path)), "/")
	var best *RunRecord
	bestLen, ties := 0, 0
	for dir, r := range runs {
		parts := strings.Split(filepath.ToSlash(filepath.Clean(dir)), "/")
		n := 0
		for n < len(parts) && n < len(recorded) && parts[len(parts)-1-n] == recorded[len(recorded)-1-n] {
			n++
		}
		switch {
		case n > bestLen:
			best, bestLen, ties = r, n, 1
		case n == bestLen:
			ties++
		}
	}
	if bestLen < minMovedSuffix || ties > 1 {
		return nil
	}
	return best
}

// sourceFields are the probe.json fields naming the point a probe started from, in the
// order the report takes them: interpolate's "from" is its source, and its "to" only
// when "from" is not under the input.
var sourceFields = []string{"run", "from", "to"}

// findSourceRun finds the run a probe in probeDir started from (info its probe.json): for
// each of sourceFields, the run at the recorded path, at the path recorded relative to the
// probe's directory (a tree moved whole), or else the one the recorded path still names
// after its run moved (movedRun). Where probe.json records the checksum of the weights
// probed, a run whose weights file has another (trained again since) is not the source;
// changed then names it.
func findSourceRun(info map[string]any, probeDir string, runs map[string]*RunRecord) (source *RunRecord, changed string) {
	trim := func(s string) string { return strings.TrimSuffix(strings.TrimSuffix(s, ":final"), ":init") }
	for _, field := range sourceFields {
		recorded, _ := info[field].(string)
		relative, _ := info[field+"_relative"].(string)
		if recorded == "" && relative == "" {
			continue
		}
		candidates := []*RunRecord{runAt(trim(recorded), runs)}
		if recorded != "" && !filepath.IsAbs(recorded) { // written by hand
			candidates = append(candidates, runAt(filepath.Join(probeDir, trim(recorded)), runs))
		}
		if relative != "" {
			candidates = append(candidates, runAt(filepath.Join(probeDir, filepath.FromSlash(trim(relative))), runs))
		}
		candidates = append(candidates, movedRun(trim(recorded), runs))
		sum, _ := info[field+"_sha256"].(string)
		which, _ := info["weights"].(string)
		fromInit := strings.HasSuffix(recorded+relative, ":"+weightsInit) || field == "run" && which == weightsInit
		checksum := func(r *RunRecord) string {
			if fromInit {
				return weightsChecksum(filepath.Join(r.Dir, experiment.InitWeightsFile))
			}
			return r.finalChecksum // read with the header LoadInputs checked
		}
		for _, r := range candidates {
			if r == nil {
				continue
			}
			if sum == "" || checksum(r) == sum {
				return r, ""
			}
			changed = r.Dir
		}
	}
	return nil, changed
}

// weightsChecksum returns the checksum the weights file at path records, or "".
func weightsChecksum(path string) string {
	meta, err := experiment.ReadWeightsMetadata(path)
	if err != nil {
		return ""
	}
	return meta[experiment.WeightsChecksumKey]
}

// runAt returns the run whose directory is path, or nil.
func runAt(path string, runs map[string]*RunRecord) *RunRecord {
	if path == "" {
		return nil
	}
	if r, ok := runs[filepath.Clean(path)]; ok {
		return r
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil
	}
	for dir, r := range runs {
		if d, err := filepath.Abs(dir); err == nil && d == abs {
			return r
		}
	}
	return nil
}

// num reads a number field of a decoded JSON object (NaN when absent or null).
func num(m map[string]any, key string) float64 {
	if v, ok := m[key].(float64); ok {
		return v
	}
	return nan
}

// str reads a string field of a decoded JSON object.
func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// compactJSON renders a value of the evidence for the HTML table.
func compactJSON(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(data)
}
