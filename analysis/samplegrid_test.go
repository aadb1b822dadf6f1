package analysis

import (
	"slices"
	"testing"

	"github.com/extremepoints/esp/corrupt"
)

// TestSampleIndices: a grid's examples are evenly spaced among the training examples of a
// clean set and among the first copy of the test examples of a corrupted one; a count of
// 0 or less picks none, and more than there are picks them all.
func TestSampleIndices(t *testing.T) {
	d := probeDataset(12, 4) // corrupted: 12 training examples, then 4 copies of the 4 test ones
	corrupted, err := corrupt.Build(d, corrupt.Settings{Copies: "4"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		set   *corrupt.Set
		count int
		want  []int
	}{
		{"clean, 4 of 12", corrupt.Clean(d), 4, []int{0, 3, 6, 9}},
		{"clean, all", corrupt.Clean(d), 50, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		{"corrupted, first copy of the test examples", corrupted, 2, []int{12, 14}},
		{"zero", corrupt.Clean(d), 0, nil},
		{"negative", corrupt.Clean(d), -3, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := SampleIndices(tc.set, tc.count); !slices.Equal(got, tc.want) {
				t.Errorf("SampleIndices(%d) = %v, want %v", tc.count, got, tc.want)
			}
		})
	}
}
