package experiment

import (
	"slices"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/extremepoints/esp/datasets"
	"github.com/extremepoints/esp/models"
)

// TestBatchCache checks the evaluation batches kept for an accelerator: the same batches as
// without a cache (zero-padded last one included), the same tensors again on the next
// pass, the least recently used split dropped past maxCachedSplits, and Evaluate's results
// unchanged.
func TestBatchCache(t *testing.T) {
	d := synthDataset(50, 30, 4, 4, 1, 3, 31)
	other := synthDataset(20, 10, 4, 4, 1, 3, 32)
	pass := func(c *batchCache, split *datasets.Split, size int) (tensorsSeen []*tensors.Tensor, flat []uint8, counts []int) {
		err := c.forEach(split, size, func(images *tensors.Tensor, start, count int) error {
			tensorsSeen = append(tensorsSeen, images)
			flat = append(flat, tensors.MustCopyFlatData[uint8](images)...)
			counts = append(counts, start, count)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return tensorsSeen, flat, counts
	}
	c := &batchCache{}
	_, wantFlat, wantCounts := pass(nil, d.Train, 16)
	if len(wantFlat) != 4*16*16 || !slices.Equal(wantCounts, []int{0, 16, 16, 16, 32, 16, 48, 2}) {
		t.Fatalf("uncached pass: %d values, counts %v; want 4 batches of 16 images, the last with 2", len(wantFlat), wantCounts)
	}
	first, flat, counts := pass(c, d.Train, 16)
	if !slices.Equal(flat, wantFlat) || !slices.Equal(counts, wantCounts) {
		t.Fatal("cached batches differ from uncached ones")
	}
	again, flat, _ := pass(c, d.Train, 16)
	if !slices.Equal(again, first) || !slices.Equal(flat, wantFlat) {
		t.Fatal("the second pass did not reuse the cached tensors")
	}
	pass(c, d.Test, 16)     // two splits kept
	pass(c, d.Train, 16)    // d.Train most recent again
	pass(c, other.Train, 8) // drops d.Test
	if len(c.entries) != maxCachedSplits || c.entries[0].split != d.Train || c.entries[1].split != other.Train {
		t.Errorf("cache holds %d entries, want d.Train then other.Train", len(c.entries))
	}

	net, err := NewNet(mustBackend(t), "mlp", models.Config{Hidden: 8}, 4, 4, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	want, err := net.Evaluate(d.Test, 7)
	if err != nil {
		t.Fatal(err)
	}
	net.batches = &batchCache{}
	for range 2 {
		got, err := net.Evaluate(d.Test, 7)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("Evaluate with cached batches: %+v, want %+v", got, want)
		}
	}
}

// TestUnitPixels checks that the graphs scale uint8 images as the host did before,
// float32(b)·(1/255), to the bit: a net gives the same log-probabilities for uint8 images
// as for the same images scaled on the host (a Stepper's float32 input).
func TestUnitPixels(t *testing.T) {
	d := synthDataset(40, 1, 5, 5, 1, 3, 33)
	net, err := NewNet(mustBackend(t), "mlp", models.Config{Hidden: 8}, 5, 5, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	pixels := tensors.FromFlatDataAndDimensions(slices.Clone(d.Train.Images), 40, 5, 5, 1)
	scaled := tensors.FromShape(shapes.Make(dtypes.Float32, 40, 5, 5, 1))
	tensors.MustMutableFlatData(scaled, func(flat []float32) {
		for i, b := range d.Train.Images {
			flat[i] = float32(b) * (1.0 / 255)
		}
	})
	var logp [][]float32
	for _, images := range []*tensors.Tensor{pixels, scaled} {
		out, err := net.predictExec.Call(images)
		if err != nil {
			t.Fatal(err)
		}
		logp = append(logp, tensors.MustCopyFlatData[float32](out[0]))
	}
	if !slices.Equal(logp[0], logp[1]) {
		t.Error("uint8 images scaled in the graph give other log-probabilities than float32 images scaled on the host")
	}
}

func mustBackend(t *testing.T) compute.Backend {
	t.Helper()
	backend, err := NewBackend("go")
	if err != nil {
		t.Fatal(err)
	}
	return backend
}
