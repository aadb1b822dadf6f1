package torchstate

import (
	"encoding/binary"
	"fmt"
	"os"
	"slices"

	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"
)

// gopickle reads each storage with one Read per chunk and takes a short read for a whole
// one, so a legacy file cut short loads with zeros or stale values where the data ended.
// checkLegacyEnd, made after loading, finds such files: a legacy file's storages, each an
// 8-byte element count and its data, must end where the file does. (Zip files are read
// by loadZip, which checks as it reads.)

// storageInfo is one storage the unpickled object holds: its element count and bytes.
type storageInfo struct {
	elements int
	bytes    int64
}

// storagesOf returns the distinct storages of the tensors reachable from obj (a state
// dict, or a checkpoint holding one beside other tensors). ok is false when one has a
// storage type this package does not size.
func storagesOf(obj any) (storages []storageInfo, ok bool) {
	seen := map[any]bool{}
	ok = true
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case *types.OrderedDict:
			if seen[v] {
				return
			}
			seen[v] = true
			for el := v.List.Front(); el != nil; el = el.Next() {
				walk(el.Value.(*types.OrderedDictEntry).Value)
			}
		case *types.Dict:
			if seen[v] {
				return
			}
			seen[v] = true
			for _, e := range *v {
				walk(e.Value)
			}
		case *types.List:
			if seen[v] {
				return
			}
			seen[v] = true
			for _, e := range *v {
				walk(e)
			}
		case *types.Tuple:
			for i := range v.Len() {
				walk(v.Get(i))
			}
		case *pytorch.Tensor:
			if seen[v.Source] {
				return
			}
			seen[v.Source] = true
			elements, size := storageSize(v.Source)
			if size == 0 {
				ok = false
				return
			}
			storages = append(storages, storageInfo{elements, int64(elements) * size})
		}
	}
	walk(obj)
	return storages, ok
}

// storageSize returns a storage's element count and the bytes of one element (0 for a
// storage type it does not know).
func storageSize(s pytorch.StorageInterface) (elements int, size int64) {
	switch s := s.(type) {
	case *pytorch.FloatStorage:
		return s.Size, 4
	case *pytorch.DoubleStorage:
		return s.Size, 8
	case *pytorch.HalfStorage:
		return s.Size, 2
	case *pytorch.BFloat16Storage:
		return s.Size, 2
	case *pytorch.LongStorage:
		return s.Size, 8
	case *pytorch.IntStorage:
		return s.Size, 4
	case *pytorch.ShortStorage:
		return s.Size, 2
	case *pytorch.CharStorage:
		return s.Size, 1
	case *pytorch.ByteStorage:
		return s.Size, 1
	case *pytorch.BoolStorage:
		return s.Size, 1
	}
	return 0, 0
}

// checkLegacyEnd checks that a legacy file's storages end where the file does: read
// back from its end, each is its data preceded by its element count, and the pickle of
// their keys (ending with the STOP opcode) comes right before the first.
func checkLegacyEnd(file string, storages []storageInfo) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	end, left := st.Size(), slices.Clone(storages)
	var word [8]byte
	for len(left) > 0 {
		found := slices.IndexFunc(left, func(s storageInfo) bool {
			at := end - s.bytes - 8
			if at < 0 {
				return false
			}
			if _, err := f.ReadAt(word[:], at); err != nil {
				return false
			}
			return binary.LittleEndian.Uint64(word[:]) == uint64(s.elements)
		})
		if found < 0 {
			return fmt.Errorf("its %d storages do not end where the file does (%d bytes): a file cut short or damaged", len(storages), st.Size())
		}
		end -= left[found].bytes + 8
		left = slices.Delete(left, found, found+1)
	}
	if _, err := f.ReadAt(word[:1], end-1); err != nil || word[0] != '.' {
		return fmt.Errorf("its storages do not follow their keys' pickle: a damaged file")
	}
	return nil
}
