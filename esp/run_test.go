package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/extremepoints/esp/analysis"
	"github.com/extremepoints/esp/corrupt"
	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/experiment"
	"github.com/extremepoints/esp/models"
)

// espProcess starts this test binary as the esp command.
func espProcess(t *testing.T, dataDir string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "ESP_TEST_AS_COMMAND=1", "ESP_DATA_DIR="+dataDir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("esp %s:\n%s", strings.Join(args, " "), out.String())
		}
	})
	return cmd
}

func importPets(t *testing.T) string {
	dataDir := t.TempDir()
	if err := writePetsFolder(filepath.Join(dataDir, "src")); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	t.Setenv("ESP_DATA_DIR", dataDir)
	if code := run(context.Background(), []string{"data", "fetch", "pets", "--from", filepath.Join(dataDir, "src")}, &bytes.Buffer{}, &stderr); code != 0 {
		t.Fatalf("import: %s", stderr.String())
	}
	return dataDir
}

// TestRunSurvivesKill kills a real `esp run` while it trains, reruns the same command, and
// checks every run exists exactly once and the finished ones were not trained again.
func TestRunSurvivesKill(t *testing.T) {
	dataDir := importPets(t)
	out := filepath.Join(t.TempDir(), "study")
	args := []string{"run", "--dataset", "pets", "--model", "mlp", "--hidden", "8", "--runs", "3", "--epochs", "150", "--out", out}
	cmd := espProcess(t, dataDir, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	runs := filepath.Join(out, experiment.RunsDir)
	// Runs in place only: a temporary directory holds its result.json just before it is
	// renamed, and Glob's "*" matches dot-names.
	finishedRuns := filepath.Join(runs, "[^.]*", experiment.ResultFile)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		finished, _ := filepath.Glob(finishedRuns)
		temps, _ := filepath.Glob(filepath.Join(runs, ".tmp-*"))
		if len(finished) >= 1 && len(temps) >= 1 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no finished run beside one in progress after 2 minutes (%d finished)", len(finished))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	finished, _ := filepath.Glob(finishedRuns)
	if len(finished) == 6 {
		t.Skip("every run finished before the kill: nothing to resume")
	}
	mtimes := map[string]time.Time{}
	for _, f := range finished {
		st, _ := os.Stat(f)
		mtimes[f] = st.ModTime()
	}
	if err := espProcess(t, dataDir, args...).Run(); err != nil {
		t.Fatalf("rerun: %v", err)
	}
	res, err := experiment.LoadStudy(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Finished) != 6 || len(res.Missing) != 0 {
		t.Fatalf("%d finished and %d missing after the rerun", len(res.Finished), len(res.Missing))
	}
	entries, _ := os.ReadDir(runs)
	if len(entries) != 6 {
		t.Errorf("runs/ holds %d entries, want the 6 runs and nothing else", len(entries))
	}
	for f, before := range mtimes {
		if st, err := os.Stat(f); err != nil {
			t.Errorf("a finished run's result: %v", err)
		} else if !st.ModTime().Equal(before) {
			t.Errorf("%s was written again: a finished run was retrained", f)
		}
	}
	for _, f := range res.Finished {
		data, _ := os.ReadFile(filepath.Join(runs, f.Name(), experiment.MetricsFile))
		if lines := strings.Count(string(data), "\n"); lines != 151 {
			t.Errorf("%s: %d metrics lines, want 151 (epochs 0-150)", f.Name(), lines)
		}
	}
}

// TestTrainSurvivesKill kills a real `esp train` once it has saved a checkpoint, reruns
// the same command, and checks that it resumed and ended with the weights of the run
// trained in one go, byte for byte; and that other flags on that directory are refused.
func TestTrainSurvivesKill(t *testing.T) {
	dataDir := importPets(t)
	flags := []string{"train", "--dataset", "pets", "--model", "mlp", "--hidden", "8", "--corrupt", "wrong-uniform", "--epochs", "100", "--seed", "4"}
	whole := filepath.Join(t.TempDir(), "whole")
	if err := espProcess(t, dataDir, append(flags, "--out", whole)...).Run(); err != nil {
		t.Fatalf("uninterrupted run: %v", err)
	}
	out := filepath.Join(t.TempDir(), "run")
	args := append(flags, "--out", out)
	cmd := espProcess(t, dataDir, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for !experiment.HasCheckpoint(out) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no checkpoint after 2 minutes")
		}
		time.Sleep(time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if _, err := os.Stat(filepath.Join(out, experiment.FinalWeightsFile)); err == nil {
		t.Skip("the run finished before the kill: nothing to resume")
	}

	var stderr bytes.Buffer
	t.Setenv("ESP_DATA_DIR", dataDir)
	other := append(append([]string(nil), flags...), "--out", out)
	other[len(other)-3] = "5" // --seed 5
	if code := run(context.Background(), other, &bytes.Buffer{}, &stderr); code != exitUsage ||
		!strings.Contains(stderr.String(), "it is another run (corruption.seed: 4 recorded, 5 now; seed: 4 recorded, 5 now)") {
		t.Errorf("another seed on the interrupted run: exit %d, %s", code, stderr.String())
	}
	stderr.Reset()
	if code := run(context.Background(), args, &bytes.Buffer{}, &stderr); code != exitOK {
		t.Fatalf("rerun: exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "resuming "+out+" after epoch ") {
		t.Errorf("the rerun does not say it resumed:\n%s", stderr.String())
	}
	got, _ := os.ReadFile(filepath.Join(out, experiment.FinalWeightsFile))
	want, _ := os.ReadFile(filepath.Join(whole, experiment.FinalWeightsFile))
	if len(want) == 0 || !bytes.Equal(got, want) {
		t.Error("the resumed run's final weights differ from the uninterrupted run's")
	}
	data, _ := os.ReadFile(filepath.Join(out, experiment.MetricsFile))
	if lines := strings.Count(string(data), "\n"); lines != 101 {
		t.Errorf("%d metrics lines, want 101 (epochs 0-100)", lines)
	}
	if experiment.HasCheckpoint(out) {
		t.Error("the finished run keeps its checkpoint")
	}
}

// TestTrainInterruptedSays: an interrupted esp train says where its checkpoint is and
// that the same command resumes it.
func TestTrainInterruptedSays(t *testing.T) {
	dataDir := importPets(t)
	t.Setenv("ESP_DATA_DIR", dataDir)
	out := filepath.Join(t.TempDir(), "run")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // interrupt once there is a checkpoint
		for ctx.Err() == nil && !experiment.HasCheckpoint(out) {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	var stderr bytes.Buffer
	code := run(ctx, []string{"train", "--dataset", "pets", "--model", "mlp", "--hidden", "8", "--epochs", "100000", "--out", out}, &bytes.Buffer{}, &stderr)
	if code != exitInterrupted || !regexp.MustCompile(`esp train: interrupted \(.*run holds a checkpoint after epoch [1-9]\d*\): run the same command again to resume`).MatchString(stderr.String()) {
		t.Errorf("exit %d, stderr ends %q", code, lastLine(stderr.String()))
	}
}

// TestTrainStopsOnSIGTERM: a real esp train sent SIGTERM (a job scheduler stopping it)
// stops as on Ctrl-C: it says so and keeps its checkpoint for the same command to resume.
func TestTrainStopsOnSIGTERM(t *testing.T) {
	dataDir := importPets(t)
	out := filepath.Join(t.TempDir(), "run")
	args := []string{"train", "--dataset", "pets", "--model", "mlp", "--hidden", "8", "--epochs", "100000", "--out", out}
	cmd := espProcess(t, dataDir, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); !experiment.HasCheckpoint(out); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no checkpoint after a minute")
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	output := cmd.Stdout.(*bytes.Buffer).String()
	if cmd.ProcessState.ExitCode() != exitInterrupted || !strings.Contains(output, "run the same command again to resume") {
		t.Fatalf("after SIGTERM: %v, exit %d, output ends %q", err, cmd.ProcessState.ExitCode(), lastLine(output))
	}
	if epoch, ok := experiment.CheckpointEpoch(out); !ok || epoch < 1 {
		t.Errorf("after SIGTERM the run holds no checkpoint (epoch %d, %v)", epoch, ok)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestRunShardsAsProcesses runs two shards of one study as concurrent processes sharing
// the directory, then checks the union is complete, with no duplicates.
func TestRunShardsAsProcesses(t *testing.T) {
	dataDir := importPets(t)
	out := filepath.Join(t.TempDir(), "study")
	var cmds []*exec.Cmd
	// The second shard trains its runs in ensembles of 2: a study does not depend on it.
	for i, shard := range []string{"0/2", "1/2"} {
		cmd := espProcess(t, dataDir, "run", "--dataset", "pets", "--model", "mlp", "--hidden", "8", "--runs", "3",
			"--epochs", "3", "--shard", shard, "--ensemble", strconv.Itoa(i+1), "--out", out)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	res, err := experiment.LoadStudy(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Finished) != 6 || len(res.Missing) != 0 {
		t.Errorf("%d finished and %d missing, want 6 and 0", len(res.Finished), len(res.Missing))
	}
	entries, _ := os.ReadDir(filepath.Join(out, experiment.RunsDir))
	if len(entries) != 6 {
		t.Errorf("runs/ holds %d entries, want 6", len(entries))
	}
}

// TestKindSummary: esp run's summary line averages the runs that finished well and counts
// the diverged ones apart, instead of printing zeros for a kind with a NaN among its runs.
func TestKindSummary(t *testing.T) {
	run := func(kind, status string, train, test float64) experiment.RunResult {
		r := experiment.RunResult{Status: status}
		r.Kind = kind
		r.Final.TrainAcc, r.Final.TestAcc = experiment.Float(train), experiment.Float(test)
		return r
	}
	nan := math.NaN()
	tests := []struct {
		name     string
		finished []experiment.RunResult
		want     string
	}{
		{"all ok", []experiment.RunResult{run("corrupted", "ok", 1, 0), run("corrupted", "ok", 0.5, 0.5), run("normal", "ok", 0, 0)},
			"corrupted: 2 runs, train_acc 0.7500 ± 0.3536, test_acc 0.2500 ± 0.3536"},
		{"one diverged", []experiment.RunResult{run("corrupted", "ok", 1, 0), run("corrupted", experiment.StatusDiverged, nan, nan)},
			"corrupted: 1 runs, train_acc 1.0000 ± 0.0000, test_acc 0.0000 ± 0.0000 (1 more diverged)"},
		{"NaN, status ok", []experiment.RunResult{run("corrupted", "ok", 1, nan), run("corrupted", "ok", 1, 0)},
			"corrupted: 1 runs, train_acc 1.0000 ± 0.0000, test_acc 0.0000 ± 0.0000 (1 more diverged)"},
		{"all diverged", []experiment.RunResult{run("corrupted", experiment.StatusDiverged, nan, nan)},
			"corrupted: 0 runs (1 more diverged)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := kindSummary("corrupted", tc.finished); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestProbeTakesTheRunsSplits: a probe without --subset evaluates on as many training
// and test examples as its run held, each split apart (a run may hold fewer test than
// training examples, as esp reproduce's scales and the notebooks train), and --subset
// cuts both splits to N.
func TestProbeTakesTheRunsSplits(t *testing.T) {
	dataDir := importPets(t)
	ds, err := datasets.Load(context.Background(), "pets", datasets.Options{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	cut := *ds
	cut.Test = ds.Test.Head(2)
	dir := filepath.Join(t.TempDir(), "run")
	s := experiment.Settings{Dataset: "pets", ModelConfig: models.Config{Hidden: 8}, Epochs: 1, BatchSize: 4}
	if _, err := experiment.Train(context.Background(), nil, corrupt.Clean(&cut), s, dir, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		flags       []string
		train, test int
	}{
		{"the run's splits", nil, 6, 2},
		{"--subset 3", []string{"--subset", "3"}, 3, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "restart")
			args := append([]string{"probe", "restart", "--run", dir, "--epochs", "1", "--batch-size", "4", "--out", out}, tc.flags...)
			var stderr bytes.Buffer
			if code := run(context.Background(), args, &bytes.Buffer{}, &stderr); code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			info, err := analysis.ReadProbeInfo(out)
			if err != nil {
				t.Fatal(err)
			}
			if info.Dataset.Train != tc.train || info.Dataset.Test != tc.test {
				t.Errorf("probed on %d+%d examples, want %d+%d", info.Dataset.Train, info.Dataset.Test, tc.train, tc.test)
			}
		})
	}
	// A run that held more examples than the dataset has now (a folder imported again,
	// smaller) is refused, naming both counts.
	config := filepath.Join(dir, experiment.ConfigFile)
	data, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(config, bytes.Replace(data, []byte(`"test": 2,`), []byte(`"test": 9,`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	args := []string{"probe", "restart", "--run", dir, "--epochs", "1", "--out", filepath.Join(t.TempDir(), "r")}
	if code := run(context.Background(), args, &bytes.Buffer{}, &stderr); code != exitUsage ||
		!strings.Contains(stderr.String(), "held 6 training and 9 test examples of pets, the dataset has 6 and 4") {
		t.Errorf("exit %d, %s; want exit %d naming the counts", code, stderr.String(), exitUsage)
	}
}

// TestReportInterrupted: esp report stopped by Ctrl-C says it wrote nothing and exits
// with exitInterrupted, as the commands that resume do.
func TestReportInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := filepath.Join(t.TempDir(), "report")
	var stderr bytes.Buffer
	code := run(ctx, []string{"report", "--in", "testdata", "--out", out}, &bytes.Buffer{}, &stderr)
	if code != exitInterrupted || !strings.Contains(stderr.String(), "esp report: interrupted: the report was not written") {
		t.Errorf("exit %d, stderr %q; want %d and the interruption", code, stderr.String(), exitInterrupted)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("%s was made (%v)", out, err)
	}
}
