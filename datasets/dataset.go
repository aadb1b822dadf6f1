package datasets

import (
	"fmt"
)

// Split is one part (train or test) of an image classification dataset.
//
// Images stay uint8 in memory, laid out NHWC: image i occupies
// Images[i*H*W*C : (i+1)*H*W*C], rows first, then columns, then channels.
// Keeping bytes instead of float32 makes CIFAR-10 cost 180 MB instead of 720 MB;
// batches reach the model's graph as bytes, converted and divided by 255 there.
type Split struct {
	Images   []uint8
	Labels   []uint8
	Height   int
	Width    int
	Channels int
}

// Len returns the number of examples in the split.
func (s *Split) Len() int { return len(s.Labels) }

// ImageSize returns the number of bytes of one image (H*W*C).
func (s *Split) ImageSize() int { return s.Height * s.Width * s.Channels }

// Image returns the bytes of image i, NHWC, without copying.
func (s *Split) Image(i int) []uint8 {
	n := s.ImageSize()
	return s.Images[i*n : (i+1)*n]
}

// Head returns a view of the first n examples (all of them if n <= 0 or n >= Len()).
// It shares memory with s.
func (s *Split) Head(n int) *Split {
	if n <= 0 || n >= s.Len() {
		return s
	}
	return &Split{
		Images:   s.Images[:n*s.ImageSize()],
		Labels:   s.Labels[:n],
		Height:   s.Height,
		Width:    s.Width,
		Channels: s.Channels,
	}
}

// validate checks that the sizes agree and every label is a valid class.
func (s *Split) validate(numClasses int) error {
	if s.Height <= 0 || s.Width <= 0 || s.Channels <= 0 {
		return fmt.Errorf("invalid image shape %dx%dx%d", s.Height, s.Width, s.Channels)
	}
	if len(s.Images) != len(s.Labels)*s.ImageSize() {
		return fmt.Errorf("%d image bytes for %d labels of %dx%dx%d images",
			len(s.Images), len(s.Labels), s.Height, s.Width, s.Channels)
	}
	for i, l := range s.Labels {
		if int(l) >= numClasses {
			return fmt.Errorf("label %d of example %d is not below the %d classes", l, i, numClasses)
		}
	}
	return nil
}

// Dataset is an image classification dataset held in memory.
type Dataset struct {
	// Name is the registry name ("mnist", "fashion-mnist", "cifar10") or,
	// for an image folder, the name the user gave it.
	Name string
	// Classes holds the class names, indexed by label.
	Classes []string
	Train   *Split
	Test    *Split
	// Source says where the data was read from (a path).
	Source string
}

// NumClasses returns the number of classes.
func (d *Dataset) NumClasses() int { return len(d.Classes) }

// Head returns a view of d with at most n examples per split (all if n <= 0).
func (d *Dataset) Head(n int) *Dataset { return d.HeadSplits(n, n) }

// HeadSplits returns a view of d with at most train training and test test examples,
// the first of each split (all of a split if its count is <= 0).
func (d *Dataset) HeadSplits(train, test int) *Dataset {
	out := *d
	out.Train = d.Train.Head(train)
	out.Test = d.Test.Head(test)
	return &out
}

// Validate checks that both splits are consistent with each other and with the classes.
func (d *Dataset) Validate() error {
	if len(d.Classes) < 2 || len(d.Classes) > 256 {
		return fmt.Errorf("dataset %s: %d classes, want 2 to 256", d.Name, len(d.Classes))
	}
	for _, part := range []struct {
		name  string
		split *Split
	}{{"train", d.Train}, {"test", d.Test}} {
		if part.split == nil || part.split.Len() == 0 {
			return fmt.Errorf("dataset %s: empty %s split", d.Name, part.name)
		}
		if err := part.split.validate(len(d.Classes)); err != nil {
			return fmt.Errorf("dataset %s, %s split: %w", d.Name, part.name, err)
		}
	}
	if d.Train.Height != d.Test.Height || d.Train.Width != d.Test.Width || d.Train.Channels != d.Test.Channels {
		return fmt.Errorf("dataset %s: train images are %dx%dx%d but test images are %dx%dx%d", d.Name,
			d.Train.Height, d.Train.Width, d.Train.Channels, d.Test.Height, d.Test.Width, d.Test.Channels)
	}
	return nil
}
