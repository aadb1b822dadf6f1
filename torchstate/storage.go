package torchstate

import (
	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"
)

// elementBytes returns the bytes of one element of a storage class's storages (0 for a
// class this package does not know).
func elementBytes(class pytorch.StorageClassInterface) int64 {
	switch class.(type) {
	case *pytorch.DoubleStorageClass, *pytorch.LongStorageClass:
		return 8
	case *pytorch.FloatStorageClass, *pytorch.IntStorageClass:
		return 4
	case *pytorch.HalfStorageClass, *pytorch.BFloat16StorageClass, *pytorch.ShortStorageClass:
		return 2
	case *pytorch.CharStorageClass, *pytorch.ByteStorageClass, *pytorch.BoolStorageClass:
		return 1
	}
	return 0
}

// storageID is a storage's persistent ID in a state dict's pickle: ('storage', class,
// key, location, elements), and in the legacy format the view it is of (None for none).
type storageID struct {
	class    pytorch.StorageClassInterface
	key      string
	location string
	elements int
	fields   int // the tuple's length
	view     any
}

// parseStorageID reads a persistent ID as a storage's; ok is false for anything else.
func parseStorageID(id any) (s storageID, ok bool) {
	t, isTuple := id.(*types.Tuple)
	if !isTuple || t.Len() < 5 {
		return storageID{}, false
	}
	kind, _ := t.Get(0).(string)
	class, classOK := t.Get(1).(pytorch.StorageClassInterface)
	key, keyOK := t.Get(2).(string)
	location, _ := t.Get(3).(string)
	elements, elementsOK := t.Get(4).(int)
	if kind != "storage" || !classOK || !keyOK || !elementsOK {
		return storageID{}, false
	}
	s = storageID{class: class, key: key, location: location, elements: elements, fields: t.Len()}
	if t.Len() > 5 {
		s.view = t.Get(5)
	}
	return s, true
}
