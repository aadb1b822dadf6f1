package datasets

import (
	"fmt"
	"io"
	"strings"
)

// CIFAR-10 binary records: one label byte, then 1024 red, 1024 green and 1024 blue bytes (32x32, rows first).
const (
	cifarSide        = 32
	cifarImageBytes  = cifarSide * cifarSide * 3
	cifarRecordBytes = 1 + cifarImageBytes
	cifarBatchSize   = 10000
)

var cifarBatches = map[string]struct {
	split string
	index int
}{
	"data_batch_1.bin": {"train", 0}, "data_batch_2.bin": {"train", 1}, "data_batch_3.bin": {"train", 2},
	"data_batch_4.bin": {"train", 3}, "data_batch_5.bin": {"train", 4}, "test_batch.bin": {"test", 0},
}

// ReadCIFAR10Binary reads CIFAR-10 from cifar-10-binary.tar.gz or a folder holding its
// data_batch_1..5.bin and test_batch.bin, converting the planar records to NHWC.
func ReadCIFAR10Binary(path string) (*Dataset, error) {
	info := registry["cifar10"]
	train := &Split{Images: make([]uint8, 5*cifarBatchSize*cifarImageBytes), Labels: make([]uint8, 5*cifarBatchSize),
		Height: cifarSide, Width: cifarSide, Channels: 3}
	test := &Split{Images: make([]uint8, cifarBatchSize*cifarImageBytes), Labels: make([]uint8, cifarBatchSize),
		Height: cifarSide, Width: cifarSide, Channels: 3}
	seen := map[string]bool{}
	err := walkSource(path, func(name string, isDir bool, r io.Reader) error {
		base := name[strings.LastIndex(name, "/")+1:]
		batch, ok := cifarBatches[base]
		if isDir || !ok {
			return nil
		}
		if seen[base] {
			return fmt.Errorf("%s: %s appears twice", path, name)
		}
		seen[base] = true
		split := train
		if batch.split == "test" {
			split = test
		}
		if err := readCIFARBatch(r, split, batch.index*cifarBatchSize); err != nil {
			return fmt.Errorf("%s: %s: %w", path, name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for base := range cifarBatches {
		if !seen[base] {
			return nil, fmt.Errorf("%s: missing %s", path, base)
		}
	}
	d := &Dataset{Name: "cifar10", Classes: info.Classes, Train: train, Test: test, Source: path}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}

// readCIFARBatch reads exactly one batch of records into split starting at example offset.
func readCIFARBatch(r io.Reader, split *Split, offset int) error {
	record := make([]byte, cifarRecordBytes)
	for i := 0; i < cifarBatchSize; i++ {
		if n, err := io.ReadFull(r, record); err != nil {
			if err == io.EOF {
				return fmt.Errorf("only %d records, want %d", i, cifarBatchSize)
			}
			return fmt.Errorf("short record %d (%d of %d bytes): %w", i, n, cifarRecordBytes, noEOF(err))
		}
		if record[0] >= 10 {
			return fmt.Errorf("record %d has label %d, want 0-9", i, record[0])
		}
		split.Labels[offset+i] = record[0]
		img := split.Image(offset + i)
		planes := record[1:]
		for p := 0; p < cifarSide*cifarSide; p++ {
			img[3*p] = planes[p]
			img[3*p+1] = planes[1024+p]
			img[3*p+2] = planes[2048+p]
		}
	}
	if n, _ := io.ReadFull(r, record[:1]); n > 0 {
		return fmt.Errorf("more than %d records", cifarBatchSize)
	}
	return nil
}
