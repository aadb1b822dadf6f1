package datasets

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Format says how a dataset is stored in the cache.
type Format int

const (
	// FormatIDX: the four canonical decompressed IDX files (MNIST, Fashion-MNIST).
	FormatIDX Format = iota
	// FormatSplitFiles: train.bin and test.bin esp split files plus manifest.json
	// (CIFAR-10 and image folders).
	FormatSplitFiles
)

// File is one canonical file of a dataset with the checksum of its decompressed payload.
type File struct {
	Name   string // name after decompression, as stored in the cache
	Size   int64
	SHA256 string
}

// Info describes a known dataset: its files, checksums and where to get them.
type Info struct {
	Name        string
	Description string
	Format      Format
	Classes     []string
	TrainSize   int
	TestSize    int
	Height      int
	Width       int
	Channels    int
	// Files lists the canonical IDX files (FormatIDX only).
	Files []File
	// URLs are base URLs tried in order; a file's URL is base + Name + ".gz" (FormatIDX),
	// or the archive itself (FormatSplitFiles).
	URLs []string
	// ArchiveMD5 is the MD5 of the canonical archive (CIFAR-10).
	ArchiveMD5 string
	// Fallback names the offline source tried after the URLs, for messages.
	Fallback string
}

var mnistDigits = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}

var registry = map[string]*Info{
	"mnist": {
		Name: "mnist", Description: "MNIST handwritten digits, 28x28 gray",
		Format: FormatIDX, Classes: mnistDigits, TrainSize: 60000, TestSize: 10000,
		Height: 28, Width: 28, Channels: 1,
		Files: []File{
			{"train-images-idx3-ubyte", 47040016, "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"},
			{"train-labels-idx1-ubyte", 60008, "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"},
			{"t10k-images-idx3-ubyte", 7840016, "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"},
			{"t10k-labels-idx1-ubyte", 10008, "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"},
		},
		URLs: []string{
			"https://ossci-datasets.s3.amazonaws.com/mnist/",
			"https://storage.googleapis.com/cvdf-datasets/mnist/",
			"http://yann.lecun.com/exdb/mnist/",
		},
		Fallback: "Go module " + goMNISTModule,
	},
	"fashion-mnist": {
		Name: "fashion-mnist", Description: "Fashion-MNIST clothing images, 28x28 gray",
		Format: FormatIDX,
		Classes: []string{"t-shirt/top", "trouser", "pullover", "dress", "coat",
			"sandal", "shirt", "sneaker", "bag", "ankle boot"},
		TrainSize: 60000, TestSize: 10000, Height: 28, Width: 28, Channels: 1,
		Files: []File{
			{"train-images-idx3-ubyte", 47040016, "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"},
			{"train-labels-idx1-ubyte", 60008, "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"},
			{"t10k-images-idx3-ubyte", 7840016, "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"},
			{"t10k-labels-idx1-ubyte", 10008, "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"},
		},
		URLs: []string{
			"http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
		},
		Fallback: "Debian package dataset-fashion-mnist (" + fashionMNISTDebianDir + ")",
	},
	"cifar10": {
		Name: "cifar10", Description: "CIFAR-10 natural images, 32x32 RGB",
		Format: FormatSplitFiles,
		Classes: []string{"airplane", "automobile", "bird", "cat", "deer",
			"dog", "frog", "horse", "ship", "truck"},
		TrainSize: 50000, TestSize: 10000, Height: 32, Width: 32, Channels: 3,
		URLs:       []string{"https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"},
		ArchiveMD5: "c32a1d4ab5d03f1284b67883e8d87530",
		Fallback:   "--from a cifar-10-binary.tar.gz, its extracted folder, or an image folder",
	},
}

// Names returns the names of the known datasets, sorted.
func Names() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Lookup returns the description of a known dataset.
func Lookup(name string) (*Info, error) {
	if info, ok := registry[name]; ok {
		return info, nil
	}
	return nil, fmt.Errorf("unknown dataset %q: valid datasets are %s, or the name of an image folder imported with --from",
		name, strings.Join(Names(), ", "))
}

var customNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// checkCustomName validates the name of a user's image-folder dataset, which becomes a cache directory.
func checkCustomName(name string) error {
	if !customNamePattern.MatchString(name) {
		return fmt.Errorf("invalid dataset name %q: use 1-64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}
