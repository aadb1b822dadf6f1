package datasets_test

import (
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"

	"github.com/extremepoints/esp/datasets"
)

// writeFolder writes an image folder: train/<class>/*.png and test/<class>/*.png, 4x4
// gray images, each class a brightness of its own.
func writeFolder(root string) {
	for c, class := range []string{"cat", "dog"} {
		for split, n := range map[string]int{"train": 3, "test": 2} {
			dir := filepath.Join(root, split, class)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				panic(err)
			}
			for i := range n {
				img := image.NewGray(image.Rect(0, 0, 4, 4))
				for p := range img.Pix {
					img.Pix[p] = uint8(100*c + i)
				}
				f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%d.png", i)))
				if err != nil {
					panic(err)
				}
				if err := png.Encode(f, img); err != nil {
					panic(err)
				}
				f.Close()
			}
		}
	}
}

// An image folder read directly: classes are the folder names, gray images give one
// channel.
func ExampleReadImageFolder() {
	root, _ := os.MkdirTemp("", "esp-example")
	defer os.RemoveAll(root)
	writeFolder(root)
	d, err := datasets.ReadImageFolder(root, "pets")
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s: classes %v, %d train and %d test images of %dx%dx%d\n", d.Name, d.Classes,
		d.Train.Len(), d.Test.Len(), d.Train.Height, d.Train.Width, d.Train.Channels)
	// Output: pets: classes [cat dog], 6 train and 4 test images of 4x4x1
}

// The usual way in: Fetch imports the folder into the cache once, under a name of the
// user's; Load reads it from there, checked against its checksums, as it reads MNIST.
func ExampleFetch() {
	root, _ := os.MkdirTemp("", "esp-example")
	defer os.RemoveAll(root)
	folder := filepath.Join(root, "pets")
	writeFolder(folder)
	opts := datasets.Options{DataDir: filepath.Join(root, "cache")}

	importOpts := opts
	importOpts.From = folder
	source, err := datasets.Fetch(context.Background(), "pets", importOpts)
	if err != nil {
		panic(err)
	}
	fmt.Println("imported from the folder:", source == folder)
	again, _ := datasets.Fetch(context.Background(), "pets", importOpts)
	fmt.Println("second fetch:", again)

	d, err := datasets.Load(context.Background(), "pets", opts)
	if err != nil {
		panic(err)
	}
	st := datasets.CacheStatus("pets", opts)
	fmt.Printf("%s: %d+%d examples, %s\n", d.Name, d.Train.Len(), d.Test.Len(), st.Checksum)
	// Output:
	// imported from the folder: true
	// second fetch: cache
	// pets: 6+4 examples, verified
}

// A split file round trip: WriteSplitFile returns the SHA-256 that ReadSplitFile checks.
func ExampleWriteSplitFile() {
	dir, _ := os.MkdirTemp("", "esp-example")
	defer os.RemoveAll(dir)
	labels := []uint8{0, 1, 1}
	pixels := [][]uint8{{0, 0, 0, 0}, {9, 9, 9, 9}, {7, 7, 7, 7}}
	path := filepath.Join(dir, "train.bin")
	sf, err := datasets.WriteSplitFile(path, labels, 2, 2, 1, func(i int) []uint8 { return pixels[i] })
	if err != nil {
		panic(err)
	}
	s, err := datasets.ReadSplitFile(path, sf.SHA256)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%d examples; example 2: label %d, pixels %v\n", s.Len(), s.Labels[2], s.Image(2))
	_, err = datasets.ReadSplitFile(path, sf.SHA256[1:]+"0")
	fmt.Println("with another checksum:", err != nil)
	// Output:
	// 3 examples; example 2: label 1, pixels [7 7 7 7]
	// with another checksum: true
}

// What the cache holds, as esp data list shows it.
func ExampleListCache() {
	root, _ := os.MkdirTemp("", "esp-example")
	defer os.RemoveAll(root)
	writeFolder(filepath.Join(root, "pets"))
	opts := datasets.Options{DataDir: filepath.Join(root, "cache")}
	if _, err := datasets.Fetch(context.Background(), "pets", datasets.Options{DataDir: opts.DataDir, From: filepath.Join(root, "pets")}); err != nil {
		panic(err)
	}
	for _, st := range datasets.ListCache(opts) {
		fmt.Printf("%s: %s\n", st.Name, st.Checksum)
	}
	// Output:
	// cifar10: missing
	// fashion-mnist: missing
	// mnist: missing
	// pets: verified
}

// The first examples of each split, as many as a run held: fewer test than training
// examples, as esp reproduce's small scales take them.
func ExampleDataset_HeadSplits() {
	root, err := os.MkdirTemp("", "pets")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(root)
	writeFolder(root)
	d, err := datasets.ReadImageFolder(root, "pets")
	if err != nil {
		panic(err)
	}
	cut := d.HeadSplits(4, 1)
	fmt.Printf("%d+%d examples, cut to %d+%d\n", d.Train.Len(), d.Test.Len(), cut.Train.Len(), cut.Test.Len())
	// Output: 6+4 examples, cut to 4+1
}
