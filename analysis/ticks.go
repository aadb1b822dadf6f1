package analysis

import (
	"math"
	"strconv"

	"gonum.org/v1/plot"
)

// The number of labeled ticks an axis aims at: fewer leaves a reader guessing the values
// between them, more crowds the labels.
const (
	fewestTickLabels = 4
	mostTickLabels   = 8
	bestTickLabels   = 6
)

// linearTicks is the ticker of every linear axis: it labels every major tick, at a step of
// 1, 2 or 5 times a power of ten chosen to give about 4 to 8 labels (a few ranges get 9 or
// 10 rather than 3), with unlabeled minor ticks between them. gonum's DefaultTicks labels
// only every other major tick on some ranges (α from -0.5 to 1.5 got -0.5, 0.5 and 1.5,
// leaving α = 0 and 1 unlabeled).
type linearTicks struct {
	// Integers keeps the ticks on whole numbers, for an axis of counts.
	Integers bool
}

var _ plot.Ticker = linearTicks{}

// Ticks implements plot.Ticker.
func (t linearTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return []plot.Tick{{Value: lo, Label: tickLabel(lo, 0)}}
	}
	step, decimals, minorPerStep := linearStep(lo, hi, t.Integers)
	minor := step / float64(minorPerStep)
	var ticks []plot.Tick
	first, last := tickIndexRange(lo, hi, minor)
	for i := first; i <= last; i++ {
		v := float64(i) * minor
		if i%minorPerStep == 0 {
			v = roundTo(v, decimals)
			ticks = append(ticks, plot.Tick{Value: v, Label: tickLabel(v, decimals)})
		} else {
			ticks = append(ticks, plot.Tick{Value: v})
		}
	}
	return ticks
}

// linearStep returns the major step for [lo, hi] (1, 2 or 5 times 10^k), the decimals its
// multiples need, and how many minor intervals divide it. Of the steps giving 4 to 8
// labels it takes the one closest to 6, the larger on a tie; where none does, the one
// closest to that band. With integers the steps are whole numbers, and so are the minor
// ones.
func linearStep(lo, hi float64, integers bool) (step float64, decimals, minorPerStep int) {
	top := int(math.Floor(math.Log10(hi - lo)))
	bestScore := math.Inf(1)
	start := top - 2
	if integers {
		start = max(start, 0)
	}
	for k := start; k <= max(top+1, start); k++ {
		for _, m := range []int{1, 2, 5} {
			s := float64(m) * math.Pow10(k)
			first, last := tickIndexRange(lo, hi, s)
			n := last - first + 1
			score := math.Abs(float64(n - bestTickLabels))
			if n < fewestTickLabels {
				score = 10 + 5*float64(fewestTickLabels-n) // too few labels weigh more than too many
			} else if n > mostTickLabels {
				score = 10 + float64(n-mostTickLabels)
			}
			if score <= bestScore { // steps grow: on a tie the larger wins
				bestScore, step, decimals = score, s, max(0, -k)
				minorPerStep = 2 // halves of 1 and 2, fifths of 5
				if m == 5 {
					minorPerStep = 5
				}
				if integers && k == 0 {
					minorPerStep = m // a minor tick on every whole number between
				}
			}
		}
	}
	return step, decimals, minorPerStep
}

// tickIndexRange returns the first and last integers i with i·step in [lo, hi], allowing
// for rounding at the ends (an axis from 0 to 1.5 has a tick at 1.5).
func tickIndexRange(lo, hi, step float64) (first, last int) {
	const slack = 1e-9
	return int(math.Ceil(lo/step - slack)), int(math.Floor(hi/step + slack))
}

// roundTo rounds v to the given decimals, so that 3·0.1 is 0.3.
func roundTo(v float64, decimals int) float64 {
	r, err := strconv.ParseFloat(strconv.FormatFloat(v, 'f', decimals, 64), 64)
	if err != nil {
		return v
	}
	return r
}

// tickLabel writes v, rounded to decimals, as briefly as it reads: 0.3, 1.5, 1e-05, never
// "-0".
func tickLabel(v float64, decimals int) string {
	v = roundTo(v, decimals)
	if v == 0 {
		return "0"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// logTicks is the ticker of logarithmic axes. It labels the powers of ten; where fewer than
// 3 of them lie in the range it labels 1, 2 and 5 times them as well; where that still
// gives fewer than 3 labels (a range within a factor of about 6, such as a loss from 2.3
// to 3.8) it falls back to linearTicks, whose steps read well over so short a range.
// Minor ticks mark the other multiples 1 to 9 of each power. plot.LogTicks labels only
// the powers of ten, and so left such ranges with one label or none.
type logTicks struct{}

var _ plot.Ticker = logTicks{}

// Ticks implements plot.Ticker.
func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi > lo) || math.IsInf(hi, 0) {
		return linearTicks{}.Ticks(lo, hi)
	}
	const slack = 1e-9
	kLo, kHi := int(math.Floor(math.Log10(lo))), int(math.Ceil(math.Log10(hi)))
	type mark struct {
		v        float64
		k        int // power of ten
		mantissa int
	}
	var marks []mark
	for k := kLo; k <= kHi; k++ {
		for m := 1; m <= 9; m++ {
			v := float64(m) * math.Pow10(k)
			if v >= lo*(1-slack) && v <= hi*(1+slack) {
				marks = append(marks, mark{v: roundTo(v, max(0, -k)), k: k, mantissa: m})
			}
		}
	}
	labeled := func(mantissas ...int) func(mark) bool {
		return func(t mark) bool {
			for _, m := range mantissas {
				if t.mantissa == m {
					return true
				}
			}
			return false
		}
	}
	count := func(isLabeled func(mark) bool) int {
		n := 0
		for _, t := range marks {
			if isLabeled(t) {
				n++
			}
		}
		return n
	}
	isLabeled := labeled(1)
	if decades := count(isLabeled); decades > mostTickLabels {
		// Many decades: label every few, so that the labels do not crowd.
		every := (decades + mostTickLabels - 1) / mostTickLabels
		isLabeled = func(t mark) bool { return t.mantissa == 1 && t.k%every == 0 }
	} else if decades < 3 {
		isLabeled = labeled(1, 2, 5)
		if count(isLabeled) < 3 {
			return linearTicks{}.Ticks(lo, hi)
		}
	}
	ticks := make([]plot.Tick, 0, len(marks))
	for _, t := range marks {
		tick := plot.Tick{Value: t.v}
		if isLabeled(t) {
			tick.Label = tickLabel(t.v, max(0, -t.k))
		}
		ticks = append(ticks, tick)
	}
	return ticks
}
