// Package corrupt builds the training sets of the extreme-overfitting recipe: the clean
// training split plus copies of the test split whose labels were changed on purpose.
//
// The paper's set (Merkulov & Oseledets) is [Build] with the zero [Settings]: every test
// example gets one uniformly random wrong class (the same for all its copies), and the
// test split is repeated len(train)/len(test)+1 times (7 for MNIST: 60k + 70k examples).
// Other strategies (shift:K, derangement, random) and a fraction of the test set to
// corrupt are there for exploring beyond the paper.
//
// A [Set] stores no pixels: each [Example] records its provenance (train or test, index,
// copy, true and assigned label) and the images are read from the dataset, so metrics can
// be taken separately on the clean part, the corrupted part and the test set.
// Everything random flows from Settings.Seed.
package corrupt
