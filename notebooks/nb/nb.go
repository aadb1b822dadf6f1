// Package nb holds what the esp notebooks share, so that their cells show the experiment
// and not the plumbing: the size knob (ESP_NOTEBOOK_SCALE), the folder a notebook writes
// its runs to, datasets cut to the chosen size, inline figures and a live progress block
// on the GoNB kernel.
//
// Outside a notebook (in tests, or a program reusing a notebook's code) figures and
// progress go to standard output as text.
package nb

import (
	"context"
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/janpfeifer/gonb/gonbui"

	"github.com/extremepoints/esp/analysis"
	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/experiment"
)

// The environment variables a notebook reads.
const (
	// ScaleEnv selects the size of every experiment in a notebook: "smoke" (seconds to a
	// minute, what the tests run) or "full" (the default: minutes, the numbers worth reading).
	ScaleEnv = "ESP_NOTEBOOK_SCALE"
	// OutEnv, when set, is the folder notebooks write their runs under; by default they write
	// to out/notebooks in the module's root.
	OutEnv = "ESP_NOTEBOOK_OUT"
)

// The scales a notebook runs at.
const (
	Smoke = "smoke"
	Full  = "full"
)

// Scale returns the notebook scale from ESP_NOTEBOOK_SCALE: "smoke" or "full" (when unset).
func Scale() (string, error) {
	switch s := strings.TrimSpace(os.Getenv(ScaleEnv)); s {
	case "":
		return Full, nil
	case Smoke, Full:
		return s, nil
	default:
		return "", fmt.Errorf("%s=%q: valid scales are %s and %s", ScaleEnv, s, Smoke, Full)
	}
}

// Pick returns smoke at the smoke scale and full otherwise.
func Pick[T any](scale string, smoke, full T) T {
	if scale == Smoke {
		return smoke
	}
	return full
}

// OutDir returns (and creates) the folder where a notebook keeps its runs at a scale:
// $ESP_NOTEBOOK_OUT/NAME-SCALE, or out/notebooks/NAME-SCALE in the module's root (the
// notebook's folder is GONB_DIR, the module's root is its parent). Runs left there by an
// earlier execution are reused by the studies (they resume) and replaced by single runs
// once finished; a single run interrupted (the kernel stopped) resumes when its cell runs
// again with the same settings, and with others asks for its folder to be deleted.
func OutDir(name, scale string) (string, error) {
	root := os.Getenv(OutEnv)
	if root == "" {
		base := os.Getenv("GONB_DIR")
		if base == "" {
			var err error
			if base, err = os.Getwd(); err != nil {
				return "", fmt.Errorf("notebook output folder: %w", err)
			}
		}
		root = filepath.Join(base, "..", "out", "notebooks")
	}
	dir := filepath.Join(root, name+"-"+scale)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("notebook output folder: %w", err)
	}
	return filepath.Abs(dir)
}

// LoadDataset loads a dataset from the local cache (see `esp data fetch`) and keeps the
// first train training and test test examples of it (0: all of a split).
func LoadDataset(ctx context.Context, name string, train, test int) (*datasets.Dataset, error) {
	ds, err := datasets.Load(ctx, name, datasets.Options{})
	if err != nil {
		return nil, err
	}
	return ds.HeadSplits(train, test), nil
}

// Show displays a figure inline as a PNG. Outside a notebook it prints the figure's title.
func Show(fig *analysis.Figure) error {
	png, err := fig.PNG()
	if err != nil {
		return fmt.Errorf("figure %s: %w", fig.Name, err)
	}
	ShowPNG(png, fig.Title)
	return nil
}

// ShowPNG displays PNG bytes inline; outside a notebook it prints a line naming them.
func ShowPNG(png []byte, title string) {
	if !gonbui.IsNotebook {
		fmt.Printf("[figure %q: %d bytes of PNG]\n", title, len(png))
		return
	}
	gonbui.DisplayPNG(png)
	// The cell's program may exit right after: wait until GoNB has the image, or it can
	// be lost (a headless run of the tour once kept 1 of its 2 figures).
	gonbui.Sync()
}

// Progress is a live block in the notebook showing the last lines written to it (a
// training run's per-epoch lines, a study's finished runs). It is an io.Writer; outside a
// notebook it passes the lines to standard output.
type Progress struct {
	mu    sync.Mutex
	id    string
	title string
	keep  int
	lines []string
	part  string
	out   io.Writer // outside a notebook
}

// NewProgress starts a live block titled title that shows the last 12 lines written.
func NewProgress(title string) *Progress {
	p := &Progress{id: "esp_progress_" + gonbui.UniqueId(), title: title, keep: 12}
	if !gonbui.IsNotebook {
		p.out = os.Stdout
		fmt.Fprintf(p.out, "%s\n", title)
	}
	p.render()
	return p
}

// Write adds text; every complete line updates the block.
func (p *Progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.out != nil {
		return p.out.Write(b)
	}
	text := p.part + string(b)
	parts := strings.Split(strings.ReplaceAll(text, "\r", "\n"), "\n")
	p.part = parts[len(parts)-1]
	for _, line := range parts[:len(parts)-1] {
		if line = strings.TrimRight(line, " "); line != "" {
			p.lines = append(p.lines, line)
		}
	}
	if over := len(p.lines) - p.keep; over > 0 {
		p.lines = p.lines[over:]
	}
	p.renderLocked()
	return len(b), nil
}

// Lines returns the lines the block shows now (at most the last 12).
func (p *Progress) Lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

func (p *Progress) render() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.renderLocked()
}

func (p *Progress) renderLocked() {
	if !gonbui.IsNotebook {
		return
	}
	body := html.EscapeString(strings.Join(p.lines, "\n"))
	gonbui.UpdateHtml(p.id, fmt.Sprintf(
		`<div><b>%s</b><pre style="font-size: 85%%; margin: 4px 0">%s</pre></div>`, html.EscapeString(p.title), body))
}

// Table prints a small table as aligned text: executed notebooks keep it readable, and
// it reads the same in a terminal.
func Table(header []string, rows [][]string) {
	widths := make([]int, len(header))
	for _, r := range append([][]string{header}, rows...) {
		for i, c := range r {
			if i < len(widths) {
				widths[i] = max(widths[i], utf8.RuneCountInString(c)) // fmt pads by runes
			}
		}
	}
	var b strings.Builder
	for _, r := range append([][]string{header}, rows...) {
		var line strings.Builder
		for i, c := range r {
			if i < len(widths) {
				fmt.Fprintf(&line, "%-*s  ", widths[i], c)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
	fmt.Print(b.String())
}

// EpochSeries is one curve over a run's epochs (epoch 0 is the initialization): value of
// each line of its metrics.jsonl.
func EpochSeries(label string, metrics []experiment.EpochMetrics, value func(experiment.EpochMetrics) float64) analysis.Series {
	s := analysis.Series{Label: label}
	for _, m := range metrics {
		s.X = append(s.X, float64(m.Epoch))
		s.Y = append(s.Y, value(m))
	}
	return s
}

// FreshDir returns parent/name after removing whatever an earlier execution left there:
// probes write only to an empty folder.
func FreshDir(parent, name string) (string, error) {
	dir := filepath.Join(parent, name)
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("clearing %s: %w", dir, err)
	}
	return dir, nil
}
