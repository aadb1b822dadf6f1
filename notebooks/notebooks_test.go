package notebooks

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// goToolchain returns the Go toolchain the module builds with (go.mod's toolchain line): the
// notebooks' first cell and the kernel must ask for the same one.
func goToolchain(t testing.TB) string {
	t.Helper()
	data, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^toolchain (\S+)$`).FindSubmatch(data)
	if m == nil {
		t.Fatal("go.mod has no toolchain line")
	}
	return string(m[1])
}

// numberCheck says that a printed line matching Pattern (one capture group: a number) holds a
// value in [Min, Max].
type numberCheck struct {
	Pattern  string
	Min, Max float64
}

// expectations lists every notebook with what its executed copy must show at smoke scale.
var expectations = []struct {
	Name   string
	PNGs   int
	Checks []numberCheck
}{
	{"00_tour", 2, []numberCheck{
		{`normal point:\s+train accuracy [0-9.]+, test accuracy ([0-9.]+)`, 0.8, 1},
		{`extreme point: train accuracy ([0-9.]+)`, 0.95, 1},
		{`extreme point: train accuracy [0-9.]+, test accuracy ([0-9.]+)`, 0, 0.1},
	}},
	{"01_corrupted_datasets", 3, []numberCheck{
		{`corrupted set: (\d+) examples`, 4500, 4500},
		{`test images that kept their true label: (\d+) of`, 0, 0},
	}},
	{"02_extreme_training", 3, []numberCheck{
		{`normal run after \d+ epochs: train accuracy [0-9.]+, test accuracy ([0-9.]+)`, 0.85, 1},
		{`corrupted run after \d+ epochs: train accuracy ([0-9.]+)`, 0.95, 1},
		{`corrupted run after \d+ epochs: train accuracy [0-9.]+, test accuracy ([0-9.]+)`, 0, 0.05},
		{`corrupted run memorized ([0-9.]+) of the wrong test labels`, 0.9, 1},
	}},
	{"03_distance_from_init", 3, []numberCheck{
		{`rank test on dist_from_init_sum: extreme > normal with effect ([0-9.]+)`, 0.9, 1},
		{`sharpness rank test on λ_max: effect ([0-9.]+)`, 0, 1},
		// The extreme points' traces came out about 3 times the normal points' (68 against 20).
		{`sharpness rank test on trace: effect ([0-9.]+)`, 0.9, 1},
		// About classes - 1 outliers at every point; the gap below them smaller at the
		// extreme points (all 8 against all 8 at the full scale).
		{`outliers above the largest gap: normal median ([0-9.]+),`, 8, 10},
		{`outliers above the largest gap: normal median [0-9.]+, extreme median ([0-9.]+)`, 8, 10},
		{`sharpness rank test on outlier gap: effect ([0-9.]+)`, 0, 0.34},
	}},
	{"04_restarts", 5, []numberCheck{
		{`extreme point: train accuracy [0-9.]+, test accuracy ([0-9.]+)`, 0, 0.1},
		{`minibatch adam restart: test accuracy [0-9.]+ -> ([0-9.]+)`, 0.5, 1},
		{`full-batch gd, step size [0-9.e+-]+ -> [0-9.e+-]+: gradient norm [0-9.e+-]+ -> ([0-9.e+-]+)`, 0, 1},
		// 1/λ_max at the extreme point (λ_max 3.8 there).
		{`full-batch gd, step size ([0-9.e+-]+) ->`, 0.01, 10},
		// 1/λ_max at the last measurement but one (the last step takes no step): λ_max fell
		// to about 2.3 there, and the step grew with it (0.44; a fixed one stays at 0.26).
		{`full-batch gd, step size [0-9.e+-]+ -> ([0-9.e+-]+):`, 0.3, 10},
		// λ_max at the last step, measured along the descents: from 3.8 at the point, the
		// text says it falls to 2.2 under GD and to 0.5 under Adam.
		{`full-batch gd, .* λ_max [0-9.e+-]+ -> ([0-9.e+-]+)`, 1, 3.5},
		{`full-batch adam, .* λ_max [0-9.e+-]+ -> ([0-9.e+-]+)`, 0.05, 1.5},
	}},
	{"05_loss_landscape", 7, []numberCheck{
		{`corrupted point: train accuracy [0-9.]+, test accuracy ([0-9.]+)`, 0, 0.1},
		{`2D slice: (\d+)x\d+ points`, 5, 5},
		// About classes - 1 outliers above the bulk of the spectrum (9 at both points at the smoke scale).
		{`normal point: the 12 largest eigenvalues .*; outliers above the largest gap: (\d+)`, 8, 10},
		{`corrupted point: the 12 largest eigenvalues .*; outliers above the largest gap: (\d+)`, 8, 10},
		// The loss curves along the top Hessian eigenvector as its eigenvalue says.
		{`top Hessian directions: eigenvalues ([0-9.e+-]+) and`, 0.5, 50},
		{`second difference of the training loss at the point along d₁: ([0-9.]+) × its eigenvalue`, 0.8, 1.25},
		// The density's extreme nodes lie inside the spectrum, λ_max the largest in magnitude.
		{`smallest eigenvalue: normal [-0-9.e]+, extreme [-0-9.e]+ \(([-0-9.e]+) and`, -1, 1},
		{`smallest eigenvalue: normal [-0-9.e]+, extreme [-0-9.e]+ \([-0-9.e]+ and ([-0-9.e]+) of`, -1, 1},
	}},
	{"06_regularization", 2, []numberCheck{
		{`λ=0\s+train accuracy ([0-9.]+)`, 0.95, 1},
		{`λ=0\s+train accuracy [0-9.]+, test accuracy ([0-9.]+)`, 0, 0.1},
	}},
}

// notebook is the part of the .ipynb format the tests read.
type notebook struct {
	Cells []struct {
		CellType       string          `json:"cell_type"`
		Source         json.RawMessage `json:"source"`
		ExecutionCount *int            `json:"execution_count"`
		Outputs        []struct {
			OutputType string            `json:"output_type"`
			Name       string            `json:"name"`
			Text       json.RawMessage   `json:"text"`
			Data       map[string]any    `json:"data"`
			EName      string            `json:"ename"`
			EValue     string            `json:"evalue"`
			Metadata   map[string]any    `json:"metadata"`
			Transient  map[string]string `json:"transient"`
		} `json:"outputs"`
	} `json:"cells"`
	Metadata struct {
		Kernelspec struct {
			Name string `json:"name"`
		} `json:"kernelspec"`
	} `json:"metadata"`
}

// multiline reads a notebook string field: a string or a list of strings.
func multiline(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var lines []string
	_ = json.Unmarshal(raw, &lines)
	return strings.Join(lines, "")
}

func readNotebook(t *testing.T, path string) *notebook {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var nb notebook
	if err := json.Unmarshal(data, &nb); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &nb
}

// TestCommittedNotebooks checks the notebooks as committed: every one is listed in the
// expectations, runs on the GoNB kernel, starts with the module replace, and carries no
// outputs.
func TestCommittedNotebooks(t *testing.T) {
	toolchain := goToolchain(t)
	paths, err := filepath.Glob("*.ipynb")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range paths {
		names = append(names, strings.TrimSuffix(p, ".ipynb"))
	}
	var want []string
	for _, e := range expectations {
		want = append(want, e.Name)
	}
	if !slices.Equal(names, want) {
		t.Fatalf("notebooks in the folder %v, expectations for %v", names, want)
	}
	for _, p := range paths {
		nb := readNotebook(t, p)
		if nb.Metadata.Kernelspec.Name != "gonb" {
			t.Errorf("%s: kernel %q, want gonb", p, nb.Metadata.Kernelspec.Name)
		}
		var firstCode string
		for _, c := range nb.Cells {
			if c.CellType == "code" {
				if firstCode == "" {
					firstCode = multiline(c.Source)
				}
				if len(c.Outputs) > 0 || c.ExecutionCount != nil {
					t.Errorf("%s: a code cell has outputs or an execution count; commit notebooks without outputs", p)
				}
			}
		}
		for _, want := range []string{"-replace=github.com/extremepoints/esp=${GONB_DIR}/..", "%env GOEXPERIMENT simd", "%env GOMLX_BACKEND go", "%env GOTOOLCHAIN " + toolchain} {
			if !strings.Contains(firstCode, want) {
				t.Errorf("%s: the first code cell lacks %q", p, want)
			}
		}
	}
}

// TestNotebooksExecute executes every notebook headless at smoke scale with Jupyter and the
// GoNB kernel, and checks the executed copies: no errors, the expected figures as valid PNGs,
// and the key printed numbers in range.
func TestNotebooksExecute(t *testing.T) {
	jupyter := findJupyter(t)
	if testing.Short() {
		t.Skip("executing the notebooks takes minutes; skipped with -short")
	}
	tools := notebookTools(t)
	toolchain := goToolchain(t)
	dataDir := t.TempDir()
	env := append(os.Environ(),
		"PATH="+tools+string(os.PathListSeparator)+"/usr/bin"+string(os.PathListSeparator)+os.Getenv("PATH"),
		"JUPYTER_DATA_DIR="+dataDir,
		"ESP_NOTEBOOK_SCALE=smoke",
		"ESP_NOTEBOOK_OUT="+t.TempDir(),
		"GOEXPERIMENT=simd",
		"GOTOOLCHAIN="+toolchain,
	)
	install := exec.Command(filepath.Join(tools, "gonb"), "--install", "--force_deps")
	install.Env = env
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("gonb --install: %v\n%s", err, out)
	}
	setKernelEnv(t, filepath.Join(dataDir, "kernels", "gonb", "kernel.json"), toolchain)

	executed := t.TempDir()
	for _, e := range expectations {
		t.Run(e.Name, func(t *testing.T) {
			start := time.Now()
			execute := func() ([]byte, error) {
				cmd := exec.Command(jupyter, "nbconvert", "--to", "notebook", "--execute",
					"--ExecutePreprocessor.timeout=900", "--output-dir", executed, e.Name+".ipynb")
				cmd.Env = env
				return cmd.CombinedOutput()
			}
			out, err := execute()
			if err != nil && goGetFailed(out) {
				// The kernel's "go get" fetches modules on a cell's first run; on a fresh
				// machine a refused proxy lookup fails it once and not again (the modules it
				// did fetch stay cached), as a user's rerun of the cell would show.
				t.Logf("%s: the kernel's go get failed; running the notebook again:\n%s", e.Name, withoutTraceback(out))
				out, err = execute()
			}
			if err != nil {
				t.Fatalf("jupyter nbconvert --execute %s.ipynb: %v\n%s", e.Name, err, withoutTraceback(out))
			}
			t.Logf("%s executed in %s", e.Name, time.Since(start).Round(time.Second))
			checkExecuted(t, readNotebook(t, filepath.Join(executed, e.Name+".ipynb")), e.PNGs, e.Checks)
		})
	}
}

// checkExecuted asserts on an executed notebook.
func checkExecuted(t *testing.T, nb *notebook, wantPNGs int, checks []numberCheck) {
	t.Helper()
	var stdout strings.Builder
	pngs := 0
	for i, c := range nb.Cells {
		for _, o := range c.Outputs {
			switch o.OutputType {
			case "error":
				t.Errorf("cell %d: error output %s: %s", i, o.EName, o.EValue)
			case "stream":
				text := multiline(o.Text)
				if o.Name == "stdout" {
					stdout.WriteString(text)
				}
				if o.Name == "stderr" && (strings.Contains(text, "panic:") || strings.Contains(text, "exit status")) {
					t.Errorf("cell %d: stderr reports a failure:\n%s", i, text)
				}
			}
			if b64, ok := o.Data["image/png"].(string); ok {
				pngs++
				data, err := decodeBase64(b64)
				if err != nil {
					t.Errorf("cell %d: image/png output is not base64: %v", i, err)
					continue
				}
				img, err := png.Decode(bytes.NewReader(data))
				if err != nil {
					t.Errorf("cell %d: image/png output is not a valid PNG: %v", i, err)
				} else if b := img.Bounds(); b.Dx() < 300 || b.Dy() < 150 {
					t.Errorf("cell %d: PNG of %dx%d pixels, too small to read", i, b.Dx(), b.Dy())
				}
			}
		}
	}
	if pngs != wantPNGs {
		t.Errorf("%d image/png outputs, want %d", pngs, wantPNGs)
	}
	printed := stdout.String()
	for _, c := range checks {
		m := regexp.MustCompile(c.Pattern).FindStringSubmatch(printed)
		if m == nil {
			t.Errorf("no printed line matches %q; stdout:\n%s", c.Pattern, tail([]byte(printed), 3000))
			continue
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil || v < c.Min || v > c.Max {
			t.Errorf("%q: printed %s, want a number in [%g, %g]", m[0], m[1], c.Min, c.Max)
		}
	}
}

// findJupyter returns Debian's jupyter (it runs on /usr/bin/python3, which has nbconvert), or
// skips the test when Jupyter is not installed.
func findJupyter(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/jupyter", "jupyter"} {
		path, err := exec.LookPath(p)
		if err != nil {
			continue
		}
		if exec.Command(path, "nbconvert", "--version").Run() == nil {
			return path
		}
	}
	t.Skip("Jupyter with nbconvert is not installed (Debian: apt-get install jupyter-notebook jupyter-nbconvert " +
		"jupyter-client python3-nbclient python3-ipykernel); the notebooks were not executed")
	return ""
}

// notebookTools returns a folder holding gonb and goimports: the module's bin folder when
// `make notebook-tools` filled it, otherwise one built now from the versions go.mod tracks.
// gopls (completion in interactive sessions) is not needed to execute notebooks.
func notebookTools(t *testing.T) string {
	t.Helper()
	bin, err := filepath.Abs(filepath.Join("..", "bin"))
	if err != nil {
		t.Fatal(err)
	}
	if isExecutable(filepath.Join(bin, "gonb")) && isExecutable(filepath.Join(bin, "goimports")) {
		return bin
	}
	dir := t.TempDir()
	for _, tool := range []string{"github.com/janpfeifer/gonb", "golang.org/x/tools/cmd/goimports"} {
		cmd := exec.Command("go", "build", "-o", dir, tool)
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", tool, err, out)
		}
	}
	return dir
}

func isExecutable(path string) bool {
	info, err := os.Stat(path)
	return err == nil && !info.IsDir() && info.Mode()&0o111 != 0 && runtime.GOOS != "windows"
}

// setKernelEnv sets GOEXPERIMENT=simd and GOTOOLCHAIN=toolchain in the kernel spec (gonb
// --install writes an empty env) so that the cells compile like the rest of the toolkit.
func setKernelEnv(t *testing.T, path, toolchain string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	spec["env"] = map[string]string{"GOEXPERIMENT": "simd", "GOTOOLCHAIN": toolchain}
	if data, err = json.MarshalIndent(spec, "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// goGetFailed reports whether nbconvert's output says that a cell failed because the kernel's
// "go get" did.
func goGetFailed(out []byte) bool {
	return regexp.MustCompile(`failed to run "\S*/go get`).Match(out)
}

// withoutTraceback returns nbconvert's output without the Python traceback that leads to the
// failed cell (frames of nbconvert itself, which say nothing about the notebook), cut to its
// last 8000 bytes.
func withoutTraceback(out []byte) string {
	var kept []string
	inTraceback := false
	for line := range strings.Lines(string(out)) {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "Traceback (most recent call last)"):
			inTraceback = true
			continue
		case inTraceback && strings.HasPrefix(trimmed, "nbclient.exceptions."):
			inTraceback = false
		case inTraceback:
			continue
		}
		kept = append(kept, line)
	}
	s := strings.Join(kept, "")
	if len(s) > 8000 {
		s = s[len(s)-8000:]
	}
	return s
}

func decodeBase64(s string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func TestFailureOutput(t *testing.T) {
	traceback := "Traceback (most recent call last):\n  File \"/usr/bin/jupyter-nbconvert\", line 33, in <module>\n    sys.exit(load_entry_point())\n" +
		"nbclient.exceptions.CellExecutionError: An error occurred while executing the following cell:\n"
	tests := []struct {
		name    string
		out     string
		goGet   bool
		kept    []string
		dropped []string
	}{
		{
			name:    "go get",
			out:     "[NbConvertApp] Converting\n" + traceback + "fmt.Println()\nfailed to run \"/root/go/pkg/mod/golang.org/toolchain@v0.0.1-go1.27.3.linux-amd64/bin/go get\": exit status 1\n",
			goGet:   true,
			kept:    []string{"[NbConvertApp] Converting", "CellExecutionError", "fmt.Println()", "exit status 1"},
			dropped: []string{"jupyter-nbconvert", "load_entry_point"},
		},
		{
			name:  "panic",
			out:   traceback + "panic: runtime error: index out of range\nfailed to run \"/tmp/gonb_x/gonb_x\": exit status 2\n",
			goGet: false,
			kept:  []string{"panic: runtime error", "exit status 2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := goGetFailed([]byte(tt.out)); got != tt.goGet {
				t.Errorf("goGetFailed = %v, want %v", got, tt.goGet)
			}
			got := withoutTraceback([]byte(tt.out))
			for _, want := range tt.kept {
				if !strings.Contains(got, want) {
					t.Errorf("withoutTraceback dropped %q:\n%s", want, got)
				}
			}
			for _, unwanted := range tt.dropped {
				if strings.Contains(got, unwanted) {
					t.Errorf("withoutTraceback kept %q:\n%s", unwanted, got)
				}
			}
		})
	}
}
