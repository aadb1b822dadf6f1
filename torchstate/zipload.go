package torchstate

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/pytorch"
)

// maxPickleBytes bounds the pickle of a zip file (data.pkl): a state dict's is kilobytes.
const maxPickleBytes = 64 << 20

// loadZip reads a state dict in the zip format as gopickle's loader does, but sizes
// nothing by what the file claims before checking it: data.pkl's length-prefixed opcodes
// must fit in it (checkPickleLengths), and each storage's element count must match its
// data record's bytes. Every record is read whole, to its end, which checks its CRC-32.
func loadZip(file string) (any, error) {
	r, err := zip.OpenReader(file)
	if err != nil {
		return nil, fmt.Errorf("a damaged or truncated zip archive: %w", err)
	}
	defer r.Close()
	records := make(map[string]*zip.File, len(r.File))
	for _, f := range r.File {
		_, name := path.Split(f.Name)
		records[name] = f
	}
	if _, ok := records["constants.pkl"]; ok {
		return nil, fmt.Errorf("a TorchScript archive (torch.jit.save), not a state dict: save model.state_dict() with torch.save")
	}
	dataPkl, ok := records["data.pkl"]
	if !ok {
		return nil, fmt.Errorf("a zip archive without data.pkl: not saved by torch.save")
	}
	pkl, err := readRecord(dataPkl, maxPickleBytes)
	if err != nil {
		return nil, err
	}
	if err := checkPickleLengths(pkl); err != nil {
		return nil, fmt.Errorf("data.pkl: %w", err)
	}
	u := pickle.NewUnpickler(bytes.NewReader(pkl))
	u.FindClass = findTorchClass
	loaded := map[string]pytorch.StorageInterface{}
	u.PersistentLoad = func(id any) (any, error) {
		s, ok := parseStorageID(id)
		if !ok {
			return nil, fmt.Errorf("data.pkl: a persistent ID %v, not a storage's", id)
		}
		if storage, ok := loaded[s.key]; ok {
			return storage, nil
		}
		record, ok := records[s.key]
		if !ok {
			return nil, fmt.Errorf("storage %s has no data record", s.key)
		}
		if !holds(record.UncompressedSize64, s.elements, elementBytes(s.class)) {
			return nil, fmt.Errorf("storage %s declares %d elements, its record holds %d bytes: a damaged file", s.key, s.elements, record.UncompressedSize64)
		}
		data, err := readRecord(record, int64(record.UncompressedSize64))
		if err != nil {
			return nil, err
		}
		storage := s.class.New(s.elements, s.location)
		if err := storage.SetFromFileWithSize(bytes.NewReader(data), s.elements); err != nil {
			return nil, fmt.Errorf("storage %s: %w", s.key, err)
		}
		loaded[s.key] = storage
		return storage, nil
	}
	return u.Load()
}

// holds reports whether a record of size bytes holds exactly elements values of width
// bytes each. It divides: a crafted count times the width could wrap around to the size.
func holds(size uint64, elements int, width int64) bool {
	return elements >= 0 && width > 0 && size%uint64(width) == 0 && uint64(elements) == size/uint64(width)
}

// readRecord reads a zip record whole, at most limit bytes, to its end (archive/zip
// checks the CRC-32 there).
func readRecord(f *zip.File, limit int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("record %s of %d bytes: more than %d, a damaged file", f.Name, f.UncompressedSize64, limit)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", f.Name, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("record %s of the zip archive: %w (a damaged file)", f.Name, err)
	}
	if uint64(len(data)) != f.UncompressedSize64 {
		return nil, fmt.Errorf("record %s holds %d bytes, its header says %d: a damaged file", f.Name, len(data), f.UncompressedSize64)
	}
	return data, nil
}

// findTorchClass resolves the torch classes a state dict's pickle names, as gopickle's
// loader does (the unpickler resolves Python's own, such as OrderedDict); any other class
// is refused, so that a pickle runs nothing it names.
func findTorchClass(module, name string) (any, error) {
	switch module + "." + name {
	case "torch._utils._rebuild_tensor_v2":
		return &pytorch.RebuildTensorV2{}, nil
	case "torch.FloatStorage":
		return &pytorch.FloatStorageClass{}, nil
	case "torch.HalfStorage":
		return &pytorch.HalfStorageClass{}, nil
	case "torch.DoubleStorage":
		return &pytorch.DoubleStorageClass{}, nil
	case "torch.BFloat16Storage":
		return &pytorch.BFloat16StorageClass{}, nil
	case "torch.CharStorage":
		return &pytorch.CharStorageClass{}, nil
	case "torch.ShortStorage":
		return &pytorch.ShortStorageClass{}, nil
	case "torch.IntStorage":
		return &pytorch.IntStorageClass{}, nil
	case "torch.LongStorage":
		return &pytorch.LongStorageClass{}, nil
	case "torch.ByteStorage":
		return &pytorch.ByteStorageClass{}, nil
	case "torch.BoolStorage":
		return &pytorch.BoolStorageClass{}, nil
	}
	return nil, fmt.Errorf("%w: %s %s", errUnknownClass, module, name)
}

// errUnknownClass is findTorchClass's error for a class it does not resolve.
var errUnknownClass = errors.New("class not found")

// checkPickleLengths walks the opcodes of a pickle (to its STOP) and checks that every
// length an opcode gives (of a frame, a string, bytes, a long) fits in what is left of
// it: the unpickler allocates such lengths before reading them.
func checkPickleLengths(p []byte) error {
	for i := 0; i < len(p); {
		op := p[i]
		i++
		left := len(p) - i
		var need int
		switch op {
		case '.': // STOP
			return nil
		case '(', '0', '1', '2', 'N', 'R', 'a', 'b', 'd', '}', 'e', 'l', ']', 'o', 's', 't', ')', 'u', 'Q',
			0x81, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8f, 0x90, 0x91, 0x92, 0x93, 0x94, 0x97, 0x98:
		case 'K', 'q', 'h', 0x80, 0x82: // one-byte argument
			need = 1
		case 'M', 0x83:
			need = 2
		case 'J', 'r', 'j', 0x84:
			need = 4
		case 'G':
			need = 8
		case 'U', 'C', 0x8c, 0x8a: // one-byte length, then the data
			if left < 1 {
				return errPickleShort
			}
			need = 1 + int(p[i])
		case 'T', 'X', 'B', 0x8b: // four-byte length
			if left < 4 {
				return errPickleShort
			}
			need = 4 + int(binary.LittleEndian.Uint32(p[i:]))
		case 0x8d, 0x8e, 0x96, 0x95: // eight-byte length (a frame's content follows as opcodes)
			if left < 8 {
				return errPickleShort
			}
			n := binary.LittleEndian.Uint64(p[i:])
			if n > uint64(left-8) {
				return fmt.Errorf("an opcode gives a length of %d with %d bytes left: a damaged or crafted file", n, left-8)
			}
			if op == 0x95 {
				n = 0
			}
			need = 8 + int(n)
		case 'I', 'L', 'F', 'S', 'V', 'P', 'g', 'p', 'c', 'i': // text arguments, up to newlines
			lines := 1
			if op == 'c' || op == 'i' {
				lines = 2
			}
			for ; lines > 0; lines-- {
				nl := bytes.IndexByte(p[i+need:], '\n')
				if nl < 0 {
					return errPickleShort
				}
				need += nl + 1
			}
		default:
			return fmt.Errorf("unknown pickle opcode 0x%02x at byte %d", op, i-1)
		}
		if need > left {
			return fmt.Errorf("an opcode at byte %d needs %d bytes, %d are left: a damaged or crafted file", i-1, need, left)
		}
		i += need
	}
	return errPickleShort
}

var errPickleShort = fmt.Errorf("the pickle ends before its STOP: a damaged file")
