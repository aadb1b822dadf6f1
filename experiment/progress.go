package experiment

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progress prints per-epoch lines, and on a terminal a live status line during epochs.
type progress struct {
	w        io.Writer
	terminal bool
	last     time.Time
	live     bool // a live line is on screen
}

func newProgress(w io.Writer) *progress {
	if w == nil {
		w = io.Discard
	}
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.terminal = true
		}
	}
	return p
}

func (p *progress) clear() {
	if p.live {
		fmt.Fprint(p.w, "\r\033[K")
		p.live = false
	}
}

// stepLine refreshes the live line (terminals only, at most 4 times a second).
func (p *progress) stepLine(epoch, epochs, step, steps int, elapsed time.Duration, loss, acc float64) {
	if !p.terminal || time.Since(p.last) < 250*time.Millisecond {
		return
	}
	p.last = time.Now()
	const width = 30
	done := width * step / steps
	rate := float64(step) / elapsed.Seconds()
	eta := time.Duration(float64(steps-step) / rate * float64(time.Second))
	fmt.Fprintf(p.w, "\r\033[Kepoch %d/%d [%s%s] %d/%d %.1f steps/s ETA %s loss %.4f acc %.4f",
		epoch, epochs, strings.Repeat("=", done), strings.Repeat(" ", width-done), step, steps, rate,
		eta.Round(time.Second), loss, acc)
	p.live = true
}

// epochLine prints the metrics of an epoch as one plain line.
func (p *progress) epochLine(s Settings, m EpochMetrics, stepsPerSecond float64, elapsed time.Duration) {
	p.clear()
	var b strings.Builder
	fmt.Fprintf(&b, "epoch %d/%d", m.Epoch, s.Epochs)
	if m.Epoch > 0 {
		eta := time.Duration(float64(elapsed) / float64(m.Epoch) * float64(s.Epochs-m.Epoch))
		fmt.Fprintf(&b, " %.1f steps/s ETA %s fit_loss %.4f fit_acc %.4f", stepsPerSecond, eta.Round(time.Second),
			float64(*m.FitLoss), float64(*m.FitAcc))
	}
	fmt.Fprintf(&b, " train_acc %.4f test_acc %.4f", float64(m.TrainAcc), float64(m.TestAcc))
	if m.CorruptedAcc != nil {
		fmt.Fprintf(&b, " corrupted_acc %.4f", float64(*m.CorruptedAcc))
	}
	fmt.Fprintf(&b, " weight_norm_sum %.1f dist_from_init %.2f", float64(m.WeightNormSum), float64(m.DistFromInit))
	fmt.Fprintln(p.w, b.String())
}
