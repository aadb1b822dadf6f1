// Package experiment runs the training runs of the extreme-overfitting study and keeps
// what they produce: per-epoch metrics, the weights at initialization and at the end,
// and the configuration needed to rerun them. [Train] is one run; [RunStudy] is many
// (N normal and N corrupted runs of one dataset and model), with workers, resumption and
// shards; [LoadStudy] reads a study back.
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
//   - config.json: a [RunConfig]: its "format" ([RunFormat]; a run of another format is
//     refused), the [Settings], toolkit and GoMLX versions, backend, dataset sizes.
//   - metrics.jsonl: one [EpochMetrics] JSON object per line, epoch 0 being the
//     initialization point. The file is rewritten whole after every epoch.
//   - init.safetensors, final.safetensors: the model's weights (see [Weights]).
//   - checkpoint-eNNNNNN/, while the run trains: after every epoch but the last (every
//     few, when epochs take less than 20 times as long as a checkpoint), every
//     variable of the run (the model's, the optimizer's moments and step count, the
//     random state) in GoMLX's checkpoint format, and state.json (the epoch, the steps,
//     the metrics so far). It is written under a temporary name and renamed, so an
//     interrupted run (a kill, a crash) loses at most the epochs since (the one it was
//     in, on real datasets). Train given
//     the directory again with the same settings (steps per call may differ) resumes
//     there, with the results it would have had in one go (bit for bit on the Go
//     backend), and records the resumption (epoch, settings, backend, versions) in
//     config.json's "resumed"; other settings, or a checkpoint whose values do not come
//     back byte for byte (each variable's SHA-256 is in state.json), are refused
//     ([ErrBadCheckpoint]). The finished run keeps no checkpoint. A member of an
//     ensemble ([TrainEnsemble]) saves its own state there in the same form, so it
//     resumes alone or in an ensemble of any size, with members at the same epoch. A
//     member that diverges saves its end at once (checkpoint-eNNNNNN-diverged/, the
//     epoch it diverged in), which a resumed ensemble restores as it was.
//
// [SaveImportedRun] writes a run directory for weights trained elsewhere (package
// torchstate reads PyTorch's): config.json, with an "imported" field ([ImportInfo]: the
// source file and its checksum, which tensor became which variable, the accuracies
// and norms measured on import), and final.safetensors. There is no init.safetensors
// or metrics.jsonl: how the weights were reached is not known.
//
// # Studies
//
// [RunStudy] trains the runs of a [StudySettings]: Runs of each of its Kinds ("normal",
// "corrupted"), every run from the template Settings with its own seed, derived from the
// study's Seed, the kind and the index (splitmix64), and recorded in its config.json; a
// corrupted run uses the same seed for its wrong labels. Workers runs train at once, each
// on its own backend, sharing the dataset read-only. A worker builds and compiles its
// graphs (training step, evaluation) for its first run and keeps them: every later run
// of the same recipe resets the variables, the model's to the initialization its seed
// gives and the optimizer's to their start, and trains on the same graphs, with the
// results it would have alone (bit for bit on the Go backend). A worker's ensembles (below)
// are kept the same way. A study directory holds:
//
//   - study.json: {"format": "esp-study/1", "toolkit_version", "settings" (the
//     StudySettings without workers, ensemble, steps per call and shard), "dataset"
//     (name, classes, sizes), "grown" (each growth: from, to, toolkit version, time)}.
//     Written by the first process; a later one must ask for the same study (only
//     workers, ensemble, steps per call and shard may change) or is refused with
//     [ErrStudyMismatch], naming what differs. A later one asking for more runs grows
//     the study: a run's name and seed depend on its kind and index only, so the
//     finished runs are the first runs of the larger study. A study does not shrink.
//   - runs/normal-0000/, runs/corrupted-0000/, ...: each a run directory as Train writes
//     it, plus result.json, a [RunResult]: {"kind", "index", "seed", "status", "epochs",
//     "steps", "seconds", "final": the last EpochMetrics, "final_sha256": of
//     final.safetensors}. A finished run whose files changed since is refused with
//     [ErrDamagedRun] when the study is read.
//
// A run is trained in runs/.tmp-NAME-RANDOM and renamed to runs/NAME when finished, so a
// directory runs/NAME is always a finished run. A process that starts a run first removes
// the temporary directories an interrupted process left for it, but the one with the
// latest checkpoint, which it takes over (renaming it) and resumes the run in. The
// process training a run holds its temporary directory's .lock file locked, so that a
// directory of a live process (another on the same shard, or the same command started
// twice) is left alone: that run is then trained by both, and the first to finish it
// puts it in place.
// Consecutive runs of one kind with checkpoints of one epoch (an interrupted ensemble's
// members, with those that had diverged) resume together, in ensembles of up to Ensemble runs as fresh runs start; a
// checkpoint that cannot be resumed is dropped, saying so, and its run trained from the
// start, the others resuming without it.
// Rerunning a study thus resumes it, keeping finished runs and resuming interrupted ones. [Shard] I of N owns the
// runs whose position in the study's fixed order (every normal run, then every corrupted
// one, by index) is I mod N, so processes on many machines (a Slurm array, a Kubernetes
// Indexed Job) can share one directory; LoadStudy merges whatever runs are present and
// lists the missing ones.
//
// # Ensembles
//
// [TrainEnsemble] trains K runs of one recipe (they differ only in seed and corruption)
// in one compiled graph: each member keeps its own variables, initialization, order of
// examples and optimizer state, and gets the run directory and [Result] that [Train]
// would give it alone, up to float rounding; its config.json records "ensemble": K.
// One call per training step serves all K runs, and so does one call per evaluation
// batch, which is meant for accelerators, where one small model per call leaves the device
// idle between launches. There the MLP's members are stacked, one batched matmul per
// layer for all of them (models.Model.EnsembleLogits); other models, and every model on
// the Go backend, get one subgraph per member. A study trains consecutive runs
// of one kind as ensembles of up to [StudySettings].Ensemble; like Workers, that is not
// part of the study's identity.
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
// running statistics), "order" (JSON list of the tensor names in the model's
// variable order) and "sha256" (hex SHA-256 of the whole file with this value written as
// zeros: a file changed since, in its values or its header, is refused with
// [ErrCorruptWeights]; files without it, written elsewhere, are read unchecked). Names are GoMLX variable paths inside the model scope, such as
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
// [NewBackend] returns GoMLX's pure-Go backend for "" or "go" ("go:parallelism=1" and
// GoMLX's other Go-backend options after the colon). XLA backends
// ("xla:cpu", "xla:cuda") need the toolkit built with the build tag "xla" (it uses cgo)
// and a PJRT plugin already installed (found through PJRT_PLUGIN_LIBRARY_PATH or
// go-xla's standard folders); plugins are never downloaded implicitly.
package experiment
