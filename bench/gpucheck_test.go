package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/extremepoints/esp/datasets"
)

// TestGPUCheckScript rehearses bench/gpu/check.sh on the Go backend, as a GPU machine runs
// it: from a bundle of the esp binary and MNIST, every step prints its figures as a JSON
// line. With a plugin that does not load, the script says so, still gives the Go
// backend's figures, and exits 1. (The PyTorch steps are left out: CI has no PyTorch.)
func TestGPUCheckScript(t *testing.T) {
	if testing.Short() {
		t.Skip("trains models: not with -short")
	}
	status := datasets.CacheStatus("mnist", datasets.Options{})
	if !status.Verified() {
		t.Skipf("MNIST is not in the cache (run `esp data fetch mnist` or set ESP_DATA_DIR): %s", status.Dir)
	}
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("the script needs python3")
	}
	bundle := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", filepath.Join(bundle, "esp"), "github.com/extremepoints/esp/esp").CombinedOutput(); err != nil {
		t.Fatalf("building esp: %v\n%s", err, out)
	}
	if err := os.Symlink(status.Dir, filepath.Join(bundle, "mnist")); err != nil {
		t.Fatal(err)
	}

	// A JAX plugin that does not load (this esp has no XLA backend), with NVIDIA's pip
	// packages beside it: the script lists the plugin's libraries and tries again with
	// those packages on LD_LIBRARY_PATH.
	site := filepath.Join(t.TempDir(), "site-packages")
	jaxPlugin := filepath.Join(site, "jax_plugins", "xla_cuda13", "xla_cuda_plugin.so")
	cu13 := filepath.Join(site, "nvidia", "cu13", "lib")
	for _, dir := range []string{filepath.Dir(jaxPlugin), cu13} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(jaxPlugin, []byte("not a shared library"), 0o644); err != nil {
		t.Fatal(err)
	}

	// A stand-in nvidia-smi: the script samples the GPU's utilization and memory while a
	// step runs, wherever nvidia-smi is.
	fakeBin := t.TempDir()
	fakeSMI := "#!/bin/sh\ncase \"$*\" in *-lms*) while :; do echo '37, 1024'; sleep 0.1; done ;; esac\necho 'GPU 0: stand-in'\n"
	if err := os.WriteFile(filepath.Join(fakeBin, "nvidia-smi"), []byte(fakeSMI), 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, backend string
		wantExit      int
		wantChecks    []string
		wantPerCall   []float64
		wantPlugin    string // of the plugin-libraries line
		wantRetry     string // LD_LIBRARY_PATH of the second backend line
	}{
		{"go backend", "go", 0, []string{"backend", "train", "train", "train", "esp-run", "esp-run", "esp-run", "esp-run", "resume", "sharpness", "summary"}, []float64{1, 16, 1, 1, 1, 1, 4}, "", ""},
		{"plugin missing", "xla:/nonexistent/pjrt_c_api_cuda_plugin.so", 1,
			[]string{"backend", "plugin-libraries", "train", "train", "train", "summary"}, []float64{1, 16, 1}, "/nonexistent/pjrt_c_api_cuda_plugin.so", ""},
		{"JAX plugin fails", "xla:" + jaxPlugin, 1,
			[]string{"backend", "plugin-libraries", "backend", "train", "train", "train", "summary"}, []float64{1, 16, 1}, jaxPlugin, cu13},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("gpu/check.sh")
			// No time budget of the script's: a loaded machine skipped steps; go test's -timeout bounds it.
			cmd.Env = append(os.Environ(), "ESP_GPU_BUNDLE="+bundle, "ESP_GPU_CHECK_BACKEND="+tc.backend, "ESP_GPU_CHECK_BUDGET=3600",
				"ESP_GPU_CHECK_EPOCHS=1", "ESP_GPU_CHECK_SUBSET=1000", "ESP_GPU_CHECK_PEERS=", "ESP_GPU_CHECK_CONFIGS=2 2p 1x2 2s4",
				"PYTHON="+python, "PATH="+fakeBin+string(os.PathListSeparator)+os.Getenv("PATH"))
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			exit := 0
			if exitErr := (*exec.ExitError)(nil); errors.As(err, &exitErr) {
				exit = exitErr.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			var lines []map[string]any
			var checks []string
			var perCall []float64 // of the train and esp-run lines
			for line := range strings.Lines(stdout.String()) {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("stdout line %q is not JSON: %v", line, err)
				}
				lines = append(lines, m)
				checks = append(checks, m["check"].(string))
			}
			if exit != tc.wantExit || !slices.Equal(checks, tc.wantChecks) {
				t.Fatalf("exit %d, checks %q; want exit %d, checks %q\nstdout:\n%s\nstderr:\n%s",
					exit, checks, tc.wantExit, tc.wantChecks, stdout.String(), stderr.String())
			}
			retried := false        // a backend line with LD_LIBRARY_PATH
			var processes []float64 // of the esp-run lines
			for _, m := range lines {
				if c := m["check"]; c == "train" || c == "esp-run" {
					perCall = append(perCall, m["steps_per_call"].(float64))
					if util, mem, samples := m["gpu_util_mean"], m["gpu_mem_max_mib"], m["gpu_samples"]; util != 37.0 || mem != 1024.0 || samples == nil || samples.(float64) < 1 {
						t.Errorf("%s line %v: want the stand-in nvidia-smi's samples (37%%, 1024 MiB)", c, m)
					}
				}
				switch m["check"] {
				case "backend":
					wantOK := tc.wantExit == 0
					if m["ok"] != wantOK || (wantOK && !strings.HasPrefix(m["result"].(string), "ok, lenet")) || (!wantOK && m["error"] == "") {
						t.Errorf("backend line %v", m)
					}
					if retry, _ := m["ld_library_path"].(string); retry != "" {
						retried = true
						if retry != tc.wantRetry {
							t.Errorf("backend line %v: want LD_LIBRARY_PATH %q", m, tc.wantRetry)
						}
					}
				case "plugin-libraries":
					if m["plugin"] != tc.wantPlugin || m["exists"] != (tc.wantRetry != "") {
						t.Errorf("plugin-libraries line %v: want plugin %s, there: %v", m, tc.wantPlugin, tc.wantRetry != "")
					}
				case "train":
					if ms, first, acc := m["ms_per_step"].(float64), m["first_epoch_seconds"].(float64), m["test_acc"].(float64); m["backend"] != "go" || ms <= 0 || first <= 0 || acc <= 0.1 || acc > 1 {
						t.Errorf("train line %v: want the Go backend, a step time and a test accuracy above chance", m)
					}
				case "esp-run":
					// Two rounds: each worker trains two runs (or ensembles), the first compiling the graphs.
					first, firstOK := m["first_run_seconds"].(float64)
					later, laterOK := m["later_run_seconds"].(float64)
					if rate, runs := m["runs_per_hour"].(float64), m["runs"].(float64); rate <= 0 || runs != 4 || !firstOK || !laterOK || first <= 0 || later <= 0 {
						t.Errorf("esp-run line %v: want 4 runs, a rate, and the seconds of first and later runs", m)
					}
					if acc := m["test_acc"].(float64); acc <= 0 || acc > 1 {
						t.Errorf("esp-run line %v: want the runs' mean test accuracy", m)
					}
					processes = append(processes, m["processes"].(float64))
				case "resume":
					// Interrupted (exit 130) with every member's checkpoint, all 4 resumed, and on
					// the Go backend each ends byte for byte as in one go.
					if m["epochs"] != 5.0 || m["interrupted_exit"] != 130.0 || m["checkpoints"].(float64) < 4 || m["resumed"] != 4.0 || m["identical"] != 4.0 ||
						m["test_acc"] != m["test_acc_in_one_go"] {
						t.Errorf("resume line %v: want 4 runs interrupted with checkpoints, resumed, identical to the runs in one go", m)
					}
				case "sharpness":
					// The estimates' signs are the trained point's to say; they are numbers.
					lambda, _ := m["top_eigenvalue"].(float64)
					trace, _ := m["trace"].(float64)
					if m["backend"] != "go" || m["model"] != "lenet" || m["examples"] != 1000.0 || m["solver"] != "lanczos" || lambda == 0 || math.IsNaN(lambda) ||
						trace == 0 || math.IsNaN(trace) || !(m["ms_per_product"].(float64) > 0) {
						t.Errorf("sharpness line %v: want LeNet's top eigenvalue, trace and time per product on the Go backend", m)
					}
				case "summary":
					if m["failed"] != (tc.wantExit != 0) || m["torch_best_runs_per_hour"].(float64) != 0 {
						t.Errorf("summary line %v", m)
					}
					// The paper's 400 MLP runs of 50 epochs and its probes' point of 350, from the
					// best rate at the epochs run.
					if best, _ := m["esp_best_runs_per_hour"].(float64); best > 0 {
						want := (400*50 + 350) / m["epochs"].(float64) / best
						if got, _ := m["paper_mlp_protocol_hours_esp"].(float64); math.Abs(got-want) > 0.01*want+0.01 {
							t.Errorf("summary line %v: paper_mlp_protocol_hours_esp %v, want %.2f", m, got, want)
						}
					}
				}
			}
			if want := []float64{1, 2, 1, 1}; tc.wantExit == 0 && !slices.Equal(processes, want) {
				t.Errorf("processes of the esp-run lines: %v, want %v", processes, want)
			}
			if retried != (tc.wantRetry != "") {
				t.Errorf("a second try with LD_LIBRARY_PATH: %v, want %v", retried, tc.wantRetry != "")
			}
			if !slices.Equal(perCall, tc.wantPerCall) {
				t.Errorf("steps per call of the train and esp-run lines: %v, want %v", perCall, tc.wantPerCall)
			}
		})
	}
}
