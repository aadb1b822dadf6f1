package datasets

import (
	"fmt"
	"io"
	"os"
	"time"
)

// isTerminal reports whether w is a character device, where progress redraws one line.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressReader reports bytes read with rate and ETA: a redrawn line on a terminal,
// plain lines (every 10% or 5 s) otherwise.
type progressReader struct {
	r        io.Reader
	w        io.Writer
	label    string
	total    int64 // -1 when unknown
	done     int64
	start    time.Time
	last     time.Time
	lastFrac int
	terminal bool
}

func newProgressReader(r io.Reader, w io.Writer, label string, total int64) io.Reader {
	if w == nil {
		return r
	}
	now := time.Now()
	return &progressReader{r: r, w: w, label: label, total: total, start: now, last: now, terminal: isTerminal(w)}
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	now := time.Now()
	finished := err == io.EOF
	frac := 0
	if p.total > 0 {
		frac = int(10 * p.done / p.total)
	}
	interval := 5 * time.Second
	if p.terminal {
		interval = 200 * time.Millisecond
	}
	if finished || now.Sub(p.last) >= interval || frac > p.lastFrac {
		p.last, p.lastFrac = now, frac
		p.print(now, finished)
	}
	return n, err
}

func (p *progressReader) print(now time.Time, finished bool) {
	elapsed := now.Sub(p.start).Seconds()
	rate := float64(p.done) / max(elapsed, 1e-3)
	line := fmt.Sprintf("%s: %.1f MB", p.label, float64(p.done)/1e6)
	if p.total > 0 {
		eta := time.Duration(float64(p.total-p.done)/max(rate, 1)) * time.Second
		line += fmt.Sprintf(" of %.1f MB (%d%%), %.1f MB/s, ETA %s", float64(p.total)/1e6,
			100*p.done/p.total, rate/1e6, eta.Round(time.Second))
	} else {
		line += fmt.Sprintf(", %.1f MB/s", rate/1e6)
	}
	if p.terminal {
		end := ""
		if finished {
			end = "\n"
		}
		fmt.Fprintf(p.w, "\r%-90s%s", line, end)
		return
	}
	fmt.Fprintln(p.w, line)
}
