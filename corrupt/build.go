package corrupt

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/extremepoints/esp/datasets"
)

// Strategy names.
const (
	WrongUniform = "wrong-uniform"
	Shift        = "shift"
	Derangement  = "derangement"
	Random       = "random"
)

// Copy-count names.
const (
	CopiesPaper = "paper"
	CopiesMatch = "match"
)

// Settings says how to corrupt the test labels and how many copies to add.
// The zero value is the paper's protocol: wrong-uniform, the whole test set, paper copies, seed 0.
type Settings struct {
	// Strategy is "wrong-uniform" (default when empty): a uniformly random wrong class;
	// "shift:K": (y+K) mod C; "derangement": one fixed class permutation without fixed points;
	// "random": a uniformly random class, which may be the true one (Zhang et al.).
	Strategy string `json:"strategy"`
	// Fraction of the test examples that get a new label, in (0, 1]; 0 means 1 (all).
	// The others keep their true label in every copy.
	Fraction float64 `json:"fraction"`
	// Copies is "paper" (default when empty): len(train)/len(test)+1; "match": the count that
	// brings the copies closest to the training set's size (at least 1); or a positive integer.
	Copies string `json:"copies"`
	// Seed fixes every random choice.
	Seed uint64 `json:"seed"`
}

// Strategies lists the valid strategy forms, for messages.
var Strategies = []string{WrongUniform, Shift + ":K", Derangement, Random}

// strategy is a parsed Settings.Strategy.
type strategy struct {
	name  string
	shift int
}

// ParseStrategy validates a strategy string ("" means wrong-uniform) and returns it in canonical form.
func ParseStrategy(s string) (string, error) {
	st, err := parseStrategy(s)
	if err != nil {
		return "", err
	}
	if st.name == Shift {
		return fmt.Sprintf("%s:%d", Shift, st.shift), nil
	}
	return st.name, nil
}

func parseStrategy(s string) (strategy, error) {
	switch s {
	case "", WrongUniform:
		return strategy{name: WrongUniform}, nil
	case Derangement, Random:
		return strategy{name: s}, nil
	}
	if rest, ok := strings.CutPrefix(s, Shift+":"); ok {
		k, err := strconv.Atoi(rest)
		if err != nil || k <= 0 || k > 255 {
			return strategy{}, fmt.Errorf("invalid strategy %q: shift:K needs an integer K from 1 to 255", s)
		}
		return strategy{name: Shift, shift: k}, nil
	}
	return strategy{}, fmt.Errorf("unknown corruption strategy %q: valid strategies are %s", s, strings.Join(Strategies, ", "))
}

// ParseCopies validates a copies setting ("" means paper).
func ParseCopies(s string) error {
	_, err := copiesFor(s, 1, 1)
	return err
}

// copiesFor returns the number of test copies for the given split sizes.
func copiesFor(s string, trainLen, testLen int) (int, error) {
	switch s {
	case "", CopiesPaper:
		return trainLen/testLen + 1, nil
	case CopiesMatch:
		return max(1, int(math.Round(float64(trainLen)/float64(testLen)))), nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 10000 {
		return 0, fmt.Errorf("invalid copies %q: valid values are %s, %s, or an integer from 1 to 10000", s, CopiesPaper, CopiesMatch)
	}
	return n, nil
}

// Canonical returns s with each setting in one spelling, so that settings that build the
// same set compare equal: the strategy as ParseStrategy gives it ("" and "wrong-uniform"
// alike), the default copies and fraction as their zero values ("paper" as "", 1 as 0),
// and an integer number of copies without leading zeros. Invalid settings are returned
// as they are.
func (s Settings) Canonical() Settings {
	if strategy, err := ParseStrategy(s.Strategy); err == nil {
		s.Strategy = strategy
	}
	if s.Fraction == 1 {
		s.Fraction = 0
	}
	if s.Copies == CopiesPaper {
		s.Copies = ""
	} else if n, err := strconv.Atoi(s.Copies); err == nil && n > 0 {
		s.Copies = strconv.Itoa(n)
	}
	return s
}

// ValidateFor checks the settings against the dataset they would corrupt, without
// building anything: Validate, then what depends on the data (a valid dataset, a shift
// that changes labels, copies, a fraction that relabels at least one test example).
func (s Settings) ValidateFor(d *datasets.Dataset) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if d == nil {
		return fmt.Errorf("corrupt: no dataset")
	}
	if err := d.Validate(); err != nil { // a hand-built one: one class, an empty split
		return fmt.Errorf("corrupt: %w", err)
	}
	st, _ := parseStrategy(s.Strategy)
	if st.name == Shift && st.shift%d.NumClasses() == 0 {
		return fmt.Errorf("invalid strategy %q: a shift that is a multiple of the %d classes changes no label", s.Strategy, d.NumClasses())
	}
	if _, err := copiesFor(s.Copies, d.Train.Len(), d.Test.Len()); err != nil {
		return err
	}
	if relabeled(s.Fraction, d.Test.Len()) == 0 {
		return fmt.Errorf("invalid fraction %v: of %d test examples it relabels none, and the set would not be corrupted", s.Fraction, d.Test.Len())
	}
	return nil
}

// relabeled is the number of test examples a fraction (0: all) gives a new label.
func relabeled(fraction float64, testLen int) int {
	if fraction == 0 {
		fraction = 1
	}
	return int(math.Round(fraction * float64(testLen)))
}

// Validate checks the settings without building anything.
func (s Settings) Validate() error {
	if _, err := parseStrategy(s.Strategy); err != nil {
		return err
	}
	if math.IsNaN(s.Fraction) || s.Fraction < 0 || s.Fraction > 1 {
		return fmt.Errorf("invalid fraction %v: want a number in (0, 1], or 0 for all", s.Fraction)
	}
	return ParseCopies(s.Copies)
}

// Build returns the corrupted training set of d: its training split plus copies of its
// test split with labels assigned by the settings' strategy.
func Build(d *datasets.Dataset, s Settings) (*Set, error) {
	if err := s.ValidateFor(d); err != nil {
		return nil, err
	}
	st, _ := parseStrategy(s.Strategy)
	numClasses := d.NumClasses()
	copies, _ := copiesFor(s.Copies, d.Train.Len(), d.Test.Len())
	rng := rand.New(rand.NewPCG(s.Seed, 0x65737063)) // second word: "espc"

	testLen := d.Test.Len()
	chosen := make([]bool, testLen)
	numChosen := relabeled(s.Fraction, testLen)
	for _, i := range rng.Perm(testLen)[:numChosen] {
		chosen[i] = true
	}

	var permutation []uint8
	if st.name == Derangement {
		permutation = randomDerangement(rng, numClasses)
	}
	assigned := make([]uint8, testLen)
	for i, y := range d.Test.Labels {
		assigned[i] = y
		if !chosen[i] {
			continue
		}
		switch st.name {
		case WrongUniform:
			assigned[i] = uint8((int(y) + 1 + rng.IntN(numClasses-1)) % numClasses)
		case Shift:
			assigned[i] = uint8((int(y) + st.shift) % numClasses)
		case Derangement:
			assigned[i] = permutation[y]
		case Random:
			assigned[i] = uint8(rng.IntN(numClasses))
		}
	}

	set := Clean(d)
	set.Settings = s
	set.TestLabels = assigned
	set.ClassPermutation = permutation
	set.Copies = copies
	set.Examples = append(set.Examples, make([]Example, 0, copies*testLen)...)
	for c := range copies {
		for i, y := range d.Test.Labels {
			set.Examples = append(set.Examples, Example{Source: FromTest, Copy: uint16(c), Index: int32(i),
				TrueLabel: y, Label: assigned[i]})
		}
	}
	return set, nil
}

// randomDerangement returns a uniformly random permutation of n classes with no fixed point
// (by rejection: about e tries on average).
func randomDerangement(rng *rand.Rand, n int) []uint8 {
	perm := make([]uint8, n)
	for {
		fixed := false
		for i, p := range rng.Perm(n) {
			perm[i] = uint8(p)
			fixed = fixed || i == p
		}
		if !fixed {
			return perm
		}
	}
}
