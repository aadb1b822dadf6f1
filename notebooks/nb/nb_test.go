package nb

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/extremepoints/esp/experiment"
)

func TestScale(t *testing.T) {
	for _, c := range []struct {
		env, want string
		ok        bool
	}{
		{"", Full, true},
		{"smoke", Smoke, true},
		{" full ", Full, true},
		{"quick", "", false},
		{"SMOKE", "", false},
	} {
		t.Setenv(ScaleEnv, c.env)
		got, err := Scale()
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("%s=%q: got %q, %v; want %q (ok=%v)", ScaleEnv, c.env, got, err, c.want, c.ok)
		}
	}
}

func TestPick(t *testing.T) {
	if Pick(Smoke, 1, 2) != 1 || Pick(Full, 1, 2) != 2 {
		t.Error("Pick does not follow the scale")
	}
}

func TestOutDir(t *testing.T) {
	root := t.TempDir()
	t.Setenv(OutEnv, root)
	dir, err := OutDir("02_extreme_training", Smoke)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "02_extreme_training-smoke"); dir != want {
		t.Errorf("OutDir = %s, want %s", dir, want)
	}
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		t.Errorf("OutDir did not create %s: %v", dir, err)
	}

	// Without ESP_NOTEBOOK_OUT: out/notebooks beside the notebooks' folder (GONB_DIR).
	module := t.TempDir()
	t.Setenv(OutEnv, "")
	t.Setenv("GONB_DIR", filepath.Join(module, "notebooks"))
	dir, err = OutDir("00_tour", Full)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(module, "out", "notebooks", "00_tour-full"); dir != want {
		t.Errorf("OutDir = %s, want %s", dir, want)
	}
}

func TestFreshDir(t *testing.T) {
	parent := t.TempDir()
	old := filepath.Join(parent, "probe", "restart.jsonl")
	if err := os.MkdirAll(filepath.Dir(old), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(old, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir, err := FreshDir(parent, "probe")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("FreshDir left %s behind (%v)", dir, err)
	}
}

func TestProgressOutsideNotebook(t *testing.T) {
	p := NewProgress("runs")
	for _, s := range []string{"epoch 1/3\nepoch", " 2/3\n", "epoch 3/3\n"} {
		if n, err := p.Write([]byte(s)); err != nil || n != len(s) {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	// Outside a notebook the lines go to standard output and the block keeps none.
	if lines := p.Lines(); len(lines) != 0 {
		t.Errorf("Lines() = %q outside a notebook", lines)
	}
}

func TestProgressKeepsLastLines(t *testing.T) {
	p := &Progress{keep: 3} // as in a notebook, without sending anything
	if _, err := p.Write([]byte("a\nb\r\nc\n\nd\ne")); err != nil {
		t.Fatal(err)
	}
	if got, want := p.Lines(), []string{"b", "c", "d"}; !slices.Equal(got, want) {
		t.Errorf("Lines() = %q, want %q (the partial line waits)", got, want)
	}
}

func TestEpochSeries(t *testing.T) {
	metrics := []experiment.EpochMetrics{{Epoch: 0, TestAcc: 0.1}, {Epoch: 1, TestAcc: 0.5}, {Epoch: 2, TestAcc: 0.9}}
	s := EpochSeries("test", metrics, func(m experiment.EpochMetrics) float64 { return float64(m.TestAcc) })
	if s.Label != "test" || !slices.Equal(s.X, []float64{0, 1, 2}) || !slices.Equal(s.Y, []float64{0.1, 0.5, 0.9}) {
		t.Errorf("EpochSeries = %+v", s)
	}
}

func ExampleTable() {
	Table([]string{"point", "test accuracy"}, [][]string{{"normal", "0.912"}, {"extreme", "0.008"}})
	// Output:
	// point    test accuracy
	// normal   0.912
	// extreme  0.008
}

// A notebook sizes its experiments by the scale ESP_NOTEBOOK_SCALE names: seconds at smoke
// scale (the tests'), minutes at full.
func ExamplePick() {
	os.Setenv(ScaleEnv, "smoke")
	defer os.Unsetenv(ScaleEnv)
	scale, err := Scale()
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s scale: %d training examples, %d epochs\n", scale, Pick(scale, 2000, 60000), Pick(scale, 5, 50))
	// Output: smoke scale: 2000 training examples, 5 epochs
}

// The folder a notebook keeps its runs in, one per notebook and scale.
func ExampleOutDir() {
	root, _ := os.MkdirTemp("", "esp-example")
	defer os.RemoveAll(root)
	os.Setenv(OutEnv, root)
	defer os.Unsetenv(OutEnv)
	dir, err := OutDir("02_extreme_training", Smoke)
	if err != nil {
		panic(err)
	}
	rel, _ := filepath.Rel(root, dir)
	fmt.Println(rel)
	// Output: 02_extreme_training-smoke
}

// A run's test accuracy over its epochs, as a curve for analysis.LineFigure.
func ExampleEpochSeries() {
	metrics := []experiment.EpochMetrics{{Epoch: 0, TestAcc: 0.1}, {Epoch: 1, TestAcc: 0.5}, {Epoch: 2, TestAcc: 0.75}}
	s := EpochSeries("test", metrics, func(m experiment.EpochMetrics) float64 { return float64(m.TestAcc) })
	fmt.Println(s.Label, s.X, s.Y)
	// Output: test [0 1 2] [0.1 0.5 0.75]
}
