package corrupt

import (
	"github.com/extremepoints/esp/datasets"
)

// Source says which split of the original dataset an example comes from.
type Source uint8

const (
	// FromTrain marks an example of the original training split, with its true label.
	FromTrain Source = iota
	// FromTest marks a copy of a test example, with the label a strategy assigned to it.
	FromTest
)

// String returns "train" or "test".
func (s Source) String() string {
	if s == FromTest {
		return "test"
	}
	return "train"
}

// Example is the provenance of one example of a training set: where its image
// comes from, which copy it is, and its true and assigned labels.
type Example struct {
	Source    Source
	Copy      uint16 // 0 for training examples; 0..copies-1 for test copies
	Index     int32  // index into the original split
	TrueLabel uint8
	Label     uint8 // the label the model is trained on
}

// Corrupted reports whether the example is trained on a label other than its true one.
func (e Example) Corrupted() bool { return e.Label != e.TrueLabel }

// Set is a training set built from a dataset: the clean training split, plus
// (for a corrupted set) copies of the test split with assigned labels.
// It holds no image bytes of its own: images are read from the dataset.
type Set struct {
	Dataset  *datasets.Dataset
	Settings Settings // zero for a clean set
	Examples []Example
	// TestLabels holds the label assigned to each test example (the same for all its
	// copies), or nil for a clean set. Used to measure the fit to the corrupted labels.
	TestLabels []uint8
	// Copies is the number of copies of the test split (0 for a clean set).
	Copies int
	// ClassPermutation is the class mapping of the derangement strategy (nil otherwise).
	ClassPermutation []uint8
}

// Len returns the number of training examples, copies included.
func (s *Set) Len() int { return len(s.Examples) }

// Image returns the bytes (NHWC) of training example i, without copying.
func (s *Set) Image(i int) []uint8 {
	e := s.Examples[i]
	if e.Source == FromTest {
		return s.Dataset.Test.Image(int(e.Index))
	}
	return s.Dataset.Train.Image(int(e.Index))
}

// IsCorrupted reports whether the set holds test copies (a corrupted training set).
func (s *Set) IsCorrupted() bool { return s.TestLabels != nil }

// Summary counts a set's examples by provenance.
type Summary struct {
	Total          int `json:"total"`
	FromTrain      int `json:"from_train"`
	FromTest       int `json:"from_test"`
	Copies         int `json:"copies"`
	Corrupted      int `json:"corrupted"`       // examples trained on a wrong label
	CorruptedTests int `json:"corrupted_tests"` // distinct test examples with a wrong label
	// AssignedHistogram[c] counts the test examples assigned class c (one count per test example).
	AssignedHistogram []int `json:"assigned_histogram,omitempty"`
}

// Summarize counts the set's examples by provenance.
func (s *Set) Summarize() Summary {
	sum := Summary{Total: len(s.Examples), Copies: s.Copies}
	for _, e := range s.Examples {
		if e.Source == FromTest {
			sum.FromTest++
		} else {
			sum.FromTrain++
		}
		if e.Corrupted() {
			sum.Corrupted++
		}
	}
	if s.TestLabels != nil {
		sum.AssignedHistogram = make([]int, s.Dataset.NumClasses())
		for i, l := range s.TestLabels {
			sum.AssignedHistogram[l]++
			if l != s.Dataset.Test.Labels[i] {
				sum.CorruptedTests++
			}
		}
	}
	return sum
}

// Clean returns the normal training set of d: its training split, true labels.
func Clean(d *datasets.Dataset) *Set {
	examples := make([]Example, d.Train.Len())
	for i, l := range d.Train.Labels {
		examples[i] = Example{Source: FromTrain, Index: int32(i), TrueLabel: l, Label: l}
	}
	return &Set{Dataset: d, Examples: examples}
}
