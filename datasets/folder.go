package datasets

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // image folders hold JPEG
	_ "image/png"  // or PNG files
	"io"
	"math/rand/v2"
	"sort"
	"strings"
)

// folderImage is one decoded image of an image folder: HWC pixels, one channel if the
// file is gray, else three.
type folderImage struct {
	file   string
	pixels []uint8
}

// rgbPixels returns HWC pixels with three channels, repeating a gray image's one.
func (fi folderImage) rgbPixels(height, width int) []uint8 {
	if len(fi.pixels) == height*width*3 {
		return fi.pixels
	}
	out := make([]uint8, 0, height*width*3)
	for _, v := range fi.pixels {
		out = append(out, v, v, v)
	}
	return out
}

// ReadImageFolder reads an image-folder dataset: train/<class>/*.{png,jpg,jpeg} and
// test/<class>/*, from a directory or a tar archive (gzip-compressed or not).
// Classes are the folder names sorted. Examples are stored in a fixed pseudo-random order
// (a permutation of the class-then-file-name order, seeded by folderOrderSeed), as the
// canonical datasets are, so that the first N examples (--subset) hold every class.
// Every image must have the size of the first one, at most [MaxImagePixels]; gray images give one channel, color
// images three (a gray image in a dataset with any color image is expanded to RGB,
// whichever is read first). Hidden files and folders (names starting with '.', such as
// Jupyter's .ipynb_checkpoints) are left out; symbolic links, and an archive's hard
// links, are followed: a folder imports what `ls -L` shows of it.
func ReadImageFolder(path, name string) (*Dataset, error) {
	type key struct{ split, class string }
	images := map[key][]folderImage{}
	folders := map[key]bool{}
	height, width, channels := 0, 0, 1 // three once any image is in color
	err := walkSource(path, func(entry string, isDir bool, r io.Reader) error {
		if isDir {
			parts := strings.Split(entry, "/")
			if n := len(parts); n >= 2 && (parts[n-2] == "train" || parts[n-2] == "test") {
				folders[key{parts[n-2], parts[n-1]}] = true
			}
			return nil
		}
		fp := imageFolderPath(entry)
		if fp == nil {
			return nil
		}
		folders[key{fp.split, fp.class}] = true
		data, err := io.ReadAll(r) // first: image.Decode reports a failed read as an unknown format
		if err != nil {
			return fmt.Errorf("%s: %s: %w", path, entry, err)
		}
		// The size first, from the header: a huge image is refused before it is decoded.
		cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			return fmt.Errorf("%s: %s: cannot decode image: %w", path, entry, err)
		}
		if height == 0 {
			if err := checkSplitShape(0, cfg.Height, cfg.Width, 1); err != nil {
				return fmt.Errorf("%s: %s: %w: make the folder's images smaller", path, entry, err)
			}
			height, width = cfg.Height, cfg.Width
		}
		if cfg.Height != height || cfg.Width != width {
			return fmt.Errorf("%s: %s: image is %dx%d, but the first image was %dx%d: all images must have one size",
				path, entry, cfg.Width, cfg.Height, width, height)
		}
		img, _, err := image.Decode(bytes.NewReader(data))
		if err != nil {
			return fmt.Errorf("%s: %s: cannot decode image: %w", path, entry, err)
		}
		imageChannels := 3
		if isGray(img) {
			imageChannels = 1
		}
		channels = max(channels, imageChannels)
		k := key{fp.split, fp.class}
		images[k] = append(images[k], folderImage{file: fp.file, pixels: toHWC(img, imageChannels)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	classSet := map[string]bool{}
	for k := range folders {
		classSet[k.class] = true
	}
	classes := make([]string, 0, len(classSet))
	for c := range classSet {
		classes = append(classes, c)
	}
	sort.Strings(classes)
	if len(classes) < 2 {
		return nil, fmt.Errorf("%s: found %d class folders under train/ and test/, want at least 2", path, len(classes))
	}
	d := &Dataset{Name: name, Classes: classes, Source: path}
	for _, split := range []string{"train", "test"} {
		total := 0
		for _, class := range classes {
			n := len(images[key{split, class}])
			if n == 0 {
				return nil, fmt.Errorf("%s: class folder %s/%s is empty or missing: every class needs images in train/ and test/", path, split, class)
			}
			total += n
		}
		s := &Split{Height: height, Width: width, Channels: channels,
			Images: make([]uint8, 0, total*height*width*channels), Labels: make([]uint8, 0, total)}
		for label, class := range classes {
			imgs := images[key{split, class}]
			sort.Slice(imgs, func(i, j int) bool { return imgs[i].file < imgs[j].file })
			for _, img := range imgs {
				if channels == 3 {
					s.Images = append(s.Images, img.rgbPixels(height, width)...)
				} else {
					s.Images = append(s.Images, img.pixels...)
				}
				s.Labels = append(s.Labels, uint8(label))
			}
			delete(images, key{split, class}) // free as we go: peak memory stays near one copy
		}
		shuffleSplit(s, folderOrderSeed)
		if split == "train" {
			d.Train = s
		} else {
			d.Test = s
		}
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}

// folderOrderSeed fixes the order of image-folder examples; changing it changes every
// imported dataset's order, so it is part of the cache format.
const folderOrderSeed = 20190101

// shuffleSplit permutes a split's examples in place with a fixed seed.
func shuffleSplit(s *Split, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed))
	size := s.ImageSize()
	tmp := make([]uint8, size)
	rng.Shuffle(s.Len(), func(i, j int) {
		s.Labels[i], s.Labels[j] = s.Labels[j], s.Labels[i]
		a, b := s.Image(i), s.Image(j)
		copy(tmp, a)
		copy(a, b)
		copy(b, tmp)
	})
}

func isGray(img image.Image) bool {
	switch img.(type) {
	case *image.Gray, *image.Gray16:
		return true
	}
	return false
}

// toHWC converts an image to rows x columns x channels bytes.
func toHWC(img image.Image, channels int) []uint8 {
	b := img.Bounds()
	out := make([]uint8, 0, b.Dx()*b.Dy()*channels)
	if g, ok := img.(*image.Gray); ok && channels == 1 {
		for y := b.Min.Y; y < b.Max.Y; y++ {
			out = append(out, g.Pix[g.PixOffset(b.Min.X, y):g.PixOffset(b.Max.X, y)]...)
		}
		return out
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := img.At(x, y)
			if channels == 1 {
				out = append(out, color.GrayModel.Convert(c).(color.Gray).Y)
				continue
			}
			r, g, b := straightRGB(c)
			out = append(out, r, g, b)
		}
	}
	return out
}

// straightRGB returns a color's red, green and blue as stored, without its alpha: PIL's
// convert("RGB"), which torchvision's ImageFolder uses, drops the alpha channel, where
// color.RGBAModel would premultiply by it (a half-transparent (200,100,50) would become
// (100,50,25), a transparent pixel black). PNG's colors with alpha (RGBA, gray+alpha, a
// palette with transparency) decode to NRGBA or NRGBA64, which hold them as stored.
func straightRGB(c color.Color) (r, g, b uint8) {
	switch c := c.(type) {
	case color.NRGBA:
		return c.R, c.G, c.B
	case color.NRGBA64:
		return uint8(c.R >> 8), uint8(c.G >> 8), uint8(c.B >> 8)
	}
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	return n.R, n.G, n.B
}
