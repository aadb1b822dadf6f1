// Package experiment runs one training run of the extreme-overfitting study and keeps
// what it produces: per-epoch metrics, the weights at initialization and at the end,
// and the configuration needed to rerun it.
//
// # One run
//
// [Train] trains a model (package models) on a training set (package corrupt: the
// clean training split, or the training split plus wrongly labeled copies of the test
// split) with the optimizer of [Settings], evaluating after every epoch on the clean
// training split, the test split and, for corrupted runs, the test split against its
// wrong labels. Every random choice flows from [Settings].Seed: the initialization
// (GoMLX's store RNG) and the order of the examples (reshuffled each epoch).
//
// # Run directory
//
// When Train is given a directory it writes (all atomically: temp file + rename):
//
//   - config.json: a [RunConfig]: the [Settings], toolkit and GoMLX versions, backend,
//     dataset sizes.
//   - metrics.jsonl: one [EpochMetrics] JSON object per line, epoch 0 being the
//     initialization point. The file is rewritten whole after every epoch.
//   - init.safetensors, final.safetensors: the model's weights (see [Weights]).
//
// # Weights file format
//
// Weights are stored in the safetensors format (https://github.com/huggingface/safetensors),
// readable from Python with safetensors.numpy.load_file: an 8-byte little-endian
// unsigned header length N, N bytes of JSON header, then the raw data. The header maps
// each tensor name to {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}
// (offsets into the data section, which holds float32 little-endian values, row-major),
// and "__metadata__" to string key/values: "format" ("esp-weights/1"), "model",
// "model_config" (JSON of models.Config), "input_shape" (JSON [H, W, C]) and
// "non_trainable" (JSON list of the names of non-trainable tensors, e.g. batch-norm
// running statistics). Names are GoMLX variable paths inside the model scope, such as
// "dense_0/weights". [LoadWeights] and [SaveWeights] read and write it; [LoadNet] builds
// a ready-to-evaluate [Net] from a file.
//
// # Probing weights
//
// A [Net] is a model with its variables on a backend: [Net.Evaluate] computes loss and
// accuracy on a split (inference mode), [Net.Gradient] the gradient of the mean loss,
// [Net.Weights] and [Net.SetWeights] move weights in and out.
//
// # Backends
//
// [NewBackend] returns GoMLX's pure-Go backend for "" or "go". XLA backends
// ("xla:cpu", "xla:cuda") need the toolkit built with the build tag "xla" (it uses cgo)
// and a PJRT plugin already installed (found through PJRT_PLUGIN_LIBRARY_PATH or
// go-xla's standard folders); plugins are never downloaded implicitly.
package experiment
