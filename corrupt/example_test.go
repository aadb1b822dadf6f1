package corrupt_test

import (
	"fmt"

	"github.com/extremepoints/esp/corrupt"
	"github.com/extremepoints/esp/datasets"
)

// A toy dataset: 6 training and 2 test examples of 3 classes.
func toyDataset() *datasets.Dataset {
	return &datasets.Dataset{
		Name:    "toy",
		Classes: []string{"a", "b", "c"},
		Train:   &datasets.Split{Images: make([]uint8, 6), Labels: []uint8{0, 1, 2, 0, 1, 2}, Height: 1, Width: 1, Channels: 1},
		Test:    &datasets.Split{Images: make([]uint8, 2), Labels: []uint8{0, 2}, Height: 1, Width: 1, Channels: 1},
	}
}

func ExampleBuild() {
	set, err := corrupt.Build(toyDataset(), corrupt.Settings{Strategy: "shift:1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	sum := set.Summarize()
	fmt.Printf("%d examples: %d from train, %d test copies (%d copies)\n", sum.Total, sum.FromTrain, sum.FromTest, sum.Copies)
	fmt.Println("assigned test labels:", set.TestLabels)
	// Output:
	// 14 examples: 6 from train, 8 test copies (4 copies)
	// assigned test labels: [1 0]
}

func ExampleParseStrategy() {
	for _, s := range []string{"", "shift:03", "flip"} {
		canonical, err := corrupt.ParseStrategy(s)
		fmt.Printf("%q -> %q %v\n", s, canonical, err)
	}
	// Output:
	// "" -> "wrong-uniform" <nil>
	// "shift:03" -> "shift:3" <nil>
	// "flip" -> "" unknown corruption strategy "flip": valid strategies are wrong-uniform, shift:K, derangement, random
}
