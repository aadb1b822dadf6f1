package torchstate

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"os"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"
)

// legacyMagic and legacyProtocol open every file of the legacy format.
const (
	legacyMagic    = "1950a86a20f9469cfc6c"
	legacyProtocol = 1001
)

// loadLegacy reads a state dict in the legacy format: the magic number, the protocol
// version and the system's description, each a pickle; the object's pickle, whose
// storages are persistent IDs; the pickle of their keys; then each storage, its element
// count (8 bytes) and its data. Like loadZip, it sizes nothing by what the file claims
// before checking it: each pickle's lengths must fit in the file, and each storage's
// count must be the one its pickle declared and its data must be in the file, whole
// (gopickle's loader allocated the count it read, and took a short read for a whole one,
// so that a file cut short loaded with stale values).
func loadLegacy(file string) (any, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	r := bytes.NewReader(data)
	next := func(setup func(*pickle.Unpickler)) (any, error) {
		if err := checkPickleLengths(data[len(data)-r.Len():]); err != nil {
			return nil, err
		}
		u := pickle.NewUnpickler(r)
		u.FindClass = findTorchClass
		if setup != nil {
			setup(&u)
		}
		return u.Load()
	}
	magic, err := next(nil)
	if n, ok := magic.(*big.Int); err != nil || !ok || n.Text(16) != legacyMagic {
		return nil, errors.New("not a file torch.save wrote: no magic number")
	}
	if protocol, err := next(nil); err != nil || protocol != legacyProtocol {
		return nil, fmt.Errorf("protocol version %v, this reader knows %d", protocol, legacyProtocol)
	}
	if _, err := next(nil); err != nil { // the system's description
		return nil, err
	}
	storages := map[string]pytorch.StorageInterface{}
	declared, widths := map[string]int{}, map[string]int64{}
	obj, err := next(func(u *pickle.Unpickler) {
		u.PersistentLoad = func(id any) (any, error) {
			if t, ok := id.(*types.Tuple); ok && t.Len() >= 2 && t.Get(0) == "module" {
				return t.Get(1), nil
			}
			s, ok := parseStorageID(id)
			if !ok || s.fields < 6 {
				return nil, fmt.Errorf("a persistent ID %v, not a storage's", id)
			}
			if s.elements < 0 || s.elements > len(data) {
				return nil, fmt.Errorf("storage %s of %d elements in a file of %d bytes: a damaged file", s.key, s.elements, len(data))
			}
			if s.view != nil {
				return nil, fmt.Errorf("storage %s is a view of another: not supported", s.key)
			}
			if storage, ok := storages[s.key]; ok {
				return storage, nil
			}
			if elementBytes(s.class) == 0 {
				return nil, fmt.Errorf("storage %s: a storage class this reader does not know", s.key)
			}
			storages[s.key], declared[s.key], widths[s.key] = s.class.New(s.elements, s.location), s.elements, elementBytes(s.class)
			return storages[s.key], nil
		}
	})
	if err != nil {
		return nil, err
	}
	keys, err := next(nil)
	if err != nil {
		return nil, err
	}
	list, ok := keys.(*types.List)
	if !ok || len(*list) != len(storages) {
		return nil, fmt.Errorf("the list of %d storages is not there: a damaged file", len(storages))
	}
	for _, k := range *list {
		key, _ := k.(string)
		storage, ok := storages[key]
		if !ok {
			return nil, fmt.Errorf("storage %v is listed but not used: a damaged file", k)
		}
		var count [8]byte
		if _, err := r.Read(count[:]); err != nil || binary.LittleEndian.Uint64(count[:]) != uint64(declared[key]) {
			return nil, fmt.Errorf("storage %s: its element count is not the %d its pickle declared: a file cut short or damaged", key, declared[key])
		}
		n := int64(declared[key]) * widths[key]
		if n > int64(r.Len()) {
			return nil, fmt.Errorf("storage %s: %d bytes of data, %d left in the file: a file cut short", key, n, r.Len())
		}
		at := len(data) - r.Len()
		if err := storage.SetFromFileWithSize(bytes.NewReader(data[at:at+int(n)]), declared[key]); err != nil {
			return nil, fmt.Errorf("storage %s: %w", key, err)
		}
		r.Seek(n, 1)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%d bytes after the last storage: a damaged file", r.Len())
	}
	return obj, nil
}
