package corrupt

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/extremepoints/esp/datasets"
	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// syntheticDataset has the split sizes of a real dataset, 1x1x1 images and uniformly random labels.
func syntheticDataset(trainLen, testLen, classes int) *datasets.Dataset {
	rng := rand.New(rand.NewPCG(1, 2))
	split := func(n int) *datasets.Split {
		s := &datasets.Split{Images: make([]uint8, n), Labels: make([]uint8, n), Height: 1, Width: 1, Channels: 1}
		for i := range s.Labels {
			s.Labels[i] = uint8(rng.IntN(classes))
			s.Images[i] = uint8(i)
		}
		return s
	}
	names := make([]string, classes)
	for i := range names {
		names[i] = string(rune('a' + i))
	}
	return &datasets.Dataset{Name: "synthetic", Classes: names, Train: split(trainLen), Test: split(testLen)}
}

func TestBuildSizes(t *testing.T) {
	tests := []struct {
		name            string
		train, test     int
		copies          string
		wantCopies      int
		wantTotalLength int
	}{
		{"mnist paper", 60000, 10000, "", 7, 130000},
		{"cifar10 paper", 50000, 10000, "paper", 6, 110000},
		{"mnist match", 60000, 10000, "match", 6, 120000},
		{"explicit", 60000, 10000, "2", 2, 80000},
		{"match never zero", 100, 1000, "match", 1, 1100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := syntheticDataset(tc.train, tc.test, 10)
			set, err := Build(d, Settings{Copies: tc.copies})
			if err != nil {
				t.Fatal(err)
			}
			sum := set.Summarize()
			if set.Len() != tc.wantTotalLength || sum.Copies != tc.wantCopies {
				t.Errorf("len %d with %d copies, want %d with %d", set.Len(), sum.Copies, tc.wantTotalLength, tc.wantCopies)
			}
			if sum.FromTrain != tc.train || sum.FromTest != tc.wantCopies*tc.test {
				t.Errorf("provenance counts %+v", sum)
			}
		})
	}
}

func TestStrategiesInvariants(t *testing.T) {
	d := syntheticDataset(2000, 10000, 10)
	tests := []struct {
		strategy string
		fraction float64
		check    func(t *testing.T, set *Set)
	}{
		{"", 0, func(t *testing.T, set *Set) {
			for i, l := range set.TestLabels {
				if l == d.Test.Labels[i] {
					t.Fatalf("wrong-uniform kept the true label of test example %d", i)
				}
			}
		}},
		{"shift:3", 0, func(t *testing.T, set *Set) {
			for i, l := range set.TestLabels {
				if want := (d.Test.Labels[i] + 3) % 10; l != want {
					t.Fatalf("shift:3 gave %d for true %d", l, d.Test.Labels[i])
				}
			}
		}},
		{"derangement", 0, func(t *testing.T, set *Set) {
			perm := set.ClassPermutation
			sorted := slices.Clone(perm)
			slices.Sort(sorted)
			for c := range perm {
				if perm[c] == uint8(c) || sorted[c] != uint8(c) {
					t.Fatalf("not a derangement: %v", perm)
				}
			}
			for i, l := range set.TestLabels {
				if l != perm[d.Test.Labels[i]] {
					t.Fatalf("test example %d: label %d, permutation says %d", i, l, perm[d.Test.Labels[i]])
				}
			}
		}},
		{"random", 0, func(t *testing.T, set *Set) {
			// About 1/10 keep their true label by chance: 1000 +- 5 sigma (sigma = 30).
			if same := 10000 - set.Summarize().CorruptedTests; same < 850 || same > 1150 {
				t.Errorf("random kept %d true labels, want about 1000", same)
			}
		}},
		{"wrong-uniform", 0.3, func(t *testing.T, set *Set) {
			if got := set.Summarize().CorruptedTests; got != 3000 {
				t.Errorf("fraction 0.3 corrupted %d of 10000 test examples, want 3000", got)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.strategy, func(t *testing.T) {
			set, err := Build(d, Settings{Strategy: tc.strategy, Fraction: tc.fraction, Seed: 7})
			if err != nil {
				t.Fatal(err)
			}
			// Every copy of a test example carries the same assigned label.
			for _, e := range set.Examples {
				if e.Source == FromTest && e.Label != set.TestLabels[e.Index] {
					t.Fatalf("copy %d of test example %d has label %d, want %d", e.Copy, e.Index, e.Label, set.TestLabels[e.Index])
				}
				if e.Source == FromTrain && e.Corrupted() {
					t.Fatalf("training example %d was corrupted", e.Index)
				}
			}
			tc.check(t, set)
		})
	}
}

// TestWrongUniformHistogram checks that, for each true class, the assigned wrong classes are
// uniform over the other nine: a chi-square test at significance 0.001 (fails by chance once
// in a thousand seeds; the seed is fixed).
func TestWrongUniformHistogram(t *testing.T) {
	d := syntheticDataset(100, 50000, 10)
	set, err := Build(d, Settings{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	counts := make([][]float64, 10)
	for c := range counts {
		counts[c] = make([]float64, 10)
	}
	for i, l := range set.TestLabels {
		counts[d.Test.Labels[i]][l]++
	}
	for y, row := range counts {
		var observed, expected []float64
		total := 0.0
		for c, n := range row {
			if c != y {
				total += n
				observed = append(observed, n)
			}
		}
		for range observed {
			expected = append(expected, total/9)
		}
		chi2 := stat.ChiSquare(observed, expected)
		p := 1 - distuv.ChiSquared{K: 8}.CDF(chi2)
		if p < 0.001 {
			t.Errorf("true class %d: assigned labels %v are not uniform over wrong classes (chi2 %.1f, p %.2g)", y, row, chi2, p)
		}
	}
}

func TestBuildDeterministic(t *testing.T) {
	d := syntheticDataset(500, 1000, 10)
	a, _ := Build(d, Settings{Seed: 11})
	b, _ := Build(d, Settings{Seed: 11})
	c, _ := Build(d, Settings{Seed: 12})
	if !slices.Equal(a.TestLabels, b.TestLabels) || !slices.Equal(a.Examples, b.Examples) {
		t.Error("the same seed gave different sets")
	}
	if slices.Equal(a.TestLabels, c.TestLabels) {
		t.Error("different seeds gave the same labels")
	}
}

func TestInvalidSettings(t *testing.T) {
	d := syntheticDataset(100, 100, 10)
	tests := []struct {
		settings Settings
		want     string
	}{
		{Settings{Strategy: "flip"}, "valid strategies are wrong-uniform, shift:K, derangement, random"},
		{Settings{Strategy: "shift:x"}, "integer K"},
		{Settings{Strategy: "shift:10"}, "multiple of the 10 classes"},
		{Settings{Fraction: 1.5}, "invalid fraction"},
		{Settings{Fraction: -0.1}, "invalid fraction"},
		{Settings{Fraction: 0.001}, "of 100 test examples it relabels none"},
		{Settings{Copies: "many"}, "valid values are paper, match, or an integer"},
		{Settings{Copies: "0"}, "valid values are paper, match"},
	}
	for _, tc := range tests {
		_, err := Build(d, tc.settings)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Build(%+v) = %v, want an error containing %q", tc.settings, err, tc.want)
		}
	}
}

// TestInvalidDataset: Build refuses a dataset it cannot corrupt (one class has no wrong
// label; an empty test split has nothing to copy) instead of looping or dividing by zero.
func TestInvalidDataset(t *testing.T) {
	emptyTest := syntheticDataset(100, 0, 10)
	tests := []struct {
		name string
		d    *datasets.Dataset
		want string
	}{
		{"one class", syntheticDataset(100, 100, 1), "1 classes, want 2 to 256"},
		{"empty test split", emptyTest, "empty test split"},
		{"nil", nil, "no dataset"},
	}
	for _, tc := range tests {
		for _, strategy := range []string{WrongUniform, Derangement} {
			_, err := Build(tc.d, Settings{Strategy: strategy})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s, %s: Build = %v, want an error containing %q", tc.name, strategy, err, tc.want)
			}
		}
	}
}

// TestCanonical: spellings of the same settings have one canonical form, and it builds
// the same set as the spelling it came from.
func TestCanonical(t *testing.T) {
	d := syntheticDataset(100, 30, 10)
	tests := []struct{ in, want Settings }{
		{Settings{}, Settings{Strategy: WrongUniform}},
		{Settings{Strategy: WrongUniform, Fraction: 1, Copies: CopiesPaper}, Settings{Strategy: WrongUniform}},
		{Settings{Strategy: "shift:03", Copies: "007", Fraction: 0.5, Seed: 4}, Settings{Strategy: "shift:3", Copies: "7", Fraction: 0.5, Seed: 4}},
		{Settings{Strategy: Derangement, Copies: CopiesMatch}, Settings{Strategy: Derangement, Copies: CopiesMatch}},
		{Settings{Strategy: "flip", Copies: "x"}, Settings{Strategy: "flip", Copies: "x"}}, // invalid: left alone
	}
	for _, tc := range tests {
		got := tc.in.Canonical()
		if got != tc.want {
			t.Errorf("%+v.Canonical() = %+v, want %+v", tc.in, got, tc.want)
		}
		if got.Canonical() != got {
			t.Errorf("%+v: canonical form %+v is not its own", tc.in, got)
		}
		a, errA := Build(d, tc.in)
		b, errB := Build(d, got)
		if (errA == nil) != (errB == nil) {
			t.Fatalf("%+v: Build errors %v and %v", tc.in, errA, errB)
		}
		if errA == nil && (!slices.Equal(a.Examples, b.Examples) || !slices.Equal(a.TestLabels, b.TestLabels)) {
			t.Errorf("%+v and its canonical form build different sets", tc.in)
		}
	}
}

func TestSetImage(t *testing.T) {
	d := syntheticDataset(10, 5, 10)
	set, _ := Build(d, Settings{Copies: "2"})
	for i, e := range set.Examples {
		want := d.Train.Image(int(e.Index))
		if e.Source == FromTest {
			want = d.Test.Image(int(e.Index))
		}
		if !slices.Equal(set.Image(i), want) {
			t.Fatalf("example %d: image %v, want %v", i, set.Image(i), want)
		}
	}
}

func FuzzParseStrategy(f *testing.F) {
	for _, s := range []string{"", "wrong-uniform", "shift:1", "shift:255", "shift:-1", "shift:", "derangement", "random", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		canonical, err := ParseStrategy(s)
		if err != nil {
			return
		}
		again, err := ParseStrategy(canonical)
		if err != nil || again != canonical {
			t.Errorf("canonical form %q of %q does not parse back to itself: %q, %v", canonical, s, again, err)
		}
	})
}

func FuzzCopies(f *testing.F) {
	for _, s := range []string{"", "paper", "match", "1", "7", "0", "-3", "10001", "x"} {
		f.Add(s, 60000, 10000)
	}
	f.Fuzz(func(t *testing.T, s string, trainLen, testLen int) {
		if trainLen < 1 || testLen < 1 || trainLen > 1<<24 || testLen > 1<<24 {
			return
		}
		n, err := copiesFor(s, trainLen, testLen)
		if err == nil && n < 1 {
			t.Errorf("copiesFor(%q, %d, %d) = %d, want at least 1", s, trainLen, testLen, n)
		}
	})
}
