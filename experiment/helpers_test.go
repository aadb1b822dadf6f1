package experiment

import (
	"math/rand/v2"

	"github.com/extremepoints/esp/datasets"
)

// synthDataset returns a small separable image dataset: class k lights up row k
// (brightness 150..255) over a noise background (0..99), h x w x c images.
func synthDataset(nTrain, nTest, h, w, c, classes int, seed uint64) *datasets.Dataset {
	rng := rand.New(rand.NewPCG(seed, 1))
	split := func(n int) *datasets.Split {
		s := &datasets.Split{Height: h, Width: w, Channels: c, Images: make([]uint8, n*h*w*c), Labels: make([]uint8, n)}
		for i := range n {
			label := rng.IntN(classes)
			s.Labels[i] = uint8(label)
			img := s.Image(i)
			for p := range img {
				img[p] = uint8(rng.IntN(100))
			}
			row := label % h
			for x := range w * c {
				img[row*w*c+x] = uint8(150 + rng.IntN(106))
			}
		}
		return s
	}
	classNames := make([]string, classes)
	for i := range classNames {
		classNames[i] = string(rune('a' + i))
	}
	return &datasets.Dataset{Name: "synth", Classes: classNames, Train: split(nTrain), Test: split(nTest)}
}
