package datasets

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
)

// IDX magic numbers: two zero bytes, the element type (0x08 = unsigned byte),
// and the number of dimensions.
const (
	idxMagicImages = 0x00000803
	idxMagicLabels = 0x00000801
)

// maybeGunzip returns a reader of r's decompressed bytes when r starts with the
// gzip magic, and of r itself otherwise.
func maybeGunzip(r io.Reader) (io.Reader, func() error, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	head, err := br.Peek(2)
	if err != nil && err != io.EOF {
		return nil, nil, err
	}
	if len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("bad gzip header: %w", err)
		}
		return zr, zr.Close, nil
	}
	return br, func() error { return nil }, nil
}

// readIDXHeader reads the magic and dimensions of an IDX file.
func readIDXHeader(r io.Reader, wantMagic uint32) ([]int, error) {
	var magic uint32
	if err := binary.Read(r, binary.BigEndian, &magic); err != nil {
		return nil, fmt.Errorf("reading IDX magic: %w", noEOF(err))
	}
	if magic != wantMagic {
		return nil, fmt.Errorf("bad IDX magic 0x%08x, want 0x%08x", magic, wantMagic)
	}
	dims := make([]int, magic&0xff)
	for i := range dims {
		var d uint32
		if err := binary.Read(r, binary.BigEndian, &d); err != nil {
			return nil, fmt.Errorf("reading IDX dimension %d: %w", i, noEOF(err))
		}
		if d == 0 || d > 1<<24 {
			return nil, fmt.Errorf("IDX dimension %d is %d, out of range", i, d)
		}
		dims[i] = int(d)
	}
	return dims, nil
}

// ReadIDXImages reads an IDX3 image file (gzip-compressed or not) into uint8
// NHWC images with one channel. It returns the images, height and width.
func ReadIDXImages(r io.Reader) (images []uint8, height, width int, err error) {
	r, closeFn, err := maybeGunzip(r)
	if err != nil {
		return nil, 0, 0, err
	}
	defer closeFn()
	dims, err := readIDXHeader(r, idxMagicImages)
	if err != nil {
		return nil, 0, 0, err
	}
	n, height, width := dims[0], dims[1], dims[2]
	// Each dimension is checked, but their product can still overflow (2^24 x 2^20 x 2^20
	// is 2^64, read as 0 bytes): the limits of a split file apply, whatever is done next.
	if err := checkSplitShape(n, height, width, 1); err != nil {
		return nil, 0, 0, fmt.Errorf("IDX images: header announces %w: a damaged file, or not an image file", err)
	}
	if images, err = readExactly(r, int64(n)*int64(height)*int64(width)); err != nil {
		return nil, 0, 0, fmt.Errorf("IDX images: header says %d images of %dx%d, data is short: %w",
			n, height, width, noEOF(err))
	}
	if err := expectEOF(r); err != nil {
		return nil, 0, 0, fmt.Errorf("IDX images: %w", err)
	}
	return images, height, width, nil
}

// ReadIDXLabels reads an IDX1 label file (gzip-compressed or not).
func ReadIDXLabels(r io.Reader) ([]uint8, error) {
	r, closeFn, err := maybeGunzip(r)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	dims, err := readIDXHeader(r, idxMagicLabels)
	if err != nil {
		return nil, err
	}
	labels := make([]uint8, dims[0])
	if _, err := io.ReadFull(r, labels); err != nil {
		return nil, fmt.Errorf("IDX labels: header says %d labels, data is short: %w", dims[0], noEOF(err))
	}
	if err := expectEOF(r); err != nil {
		return nil, fmt.Errorf("IDX labels: %w", err)
	}
	return labels, nil
}

// maxPayload bounds what a header may announce (16 GiB): beyond it the header is corrupt.
const maxPayload = 1 << 34

// readExactly reads exactly n bytes. It allocates as data arrives (at most 64 MiB ahead),
// so a corrupt header announcing a huge payload fails on the short data, not on memory.
func readExactly(r io.Reader, n int64) ([]byte, error) {
	if n < 0 || n > maxPayload {
		return nil, fmt.Errorf("header announces %d bytes, more than the %d this toolkit reads", n, int64(maxPayload))
	}
	const chunk = 64 << 20
	buf := make([]byte, 0, min(n, chunk))
	for int64(len(buf)) < n {
		want := min(n-int64(len(buf)), chunk)
		if int64(cap(buf)-len(buf)) < want {
			buf = slices.Grow(buf, int(want))
		}
		got, err := io.ReadFull(r, buf[len(buf):len(buf)+int(want)])
		buf = buf[:len(buf)+got]
		if err != nil {
			return nil, fmt.Errorf("%d of %d bytes: %w", len(buf), n, noEOF(err))
		}
	}
	return buf, nil
}

// expectEOF fails when r holds more bytes, or when reading to the end fails
// (a truncated gzip stream shows up only there).
func expectEOF(r io.Reader) error {
	var b [1]byte
	n, err := io.ReadFull(r, b[:])
	if n > 0 {
		return fmt.Errorf("trailing bytes after the data the header announces")
	}
	if err != io.EOF {
		return fmt.Errorf("reading past the end: %w", noEOF(err))
	}
	return nil
}

// noEOF turns a bare EOF into ErrUnexpectedEOF: inside a file, an early end is truncation.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
