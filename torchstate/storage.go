package torchstate

import "github.com/nlpodyssey/gopickle/pytorch"

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
