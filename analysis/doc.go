// Package analysis studies trained networks and the datasets they were trained on:
// figures of samples, probes of the loss surface around extreme points, statistics
// across runs, and the plots of the report.
//
// Figures are drawn with gonum/plot and written as PNG (and SVG where a figure is
// part of the report); notebooks show the same figures inline.
//
// # Probes
//
// A probe starts from a [Point]: the final (or initial) weights of a run directory
// written by experiment.Train. Each probe is one function, called alike by `esp probe`
// and by notebooks, taking a context, a backend (nil: the Go backend), the point, the
// run's dataset as loaded by the caller (datasets.Load, then Head for a subset),
// typed settings whose zero value is the documented default, an output directory
// ("" for none) and a progress writer:
//
//   - [Restart]: minibatch SGD or Adam from the point on the clean training split
//     (claim C5: from an extreme point it escapes to a point that generalizes).
//   - [FullBatch]: full-batch Adam (the authors' variant) and/or plain gradient descent
//     on the clean training split, logging the full gradient's norm (claim C6: test
//     accuracy stays low while the gradient norm goes to ~0).
//   - [Interpolate]: loss and accuracy along (1-α)·A + α·B, batch-norm running
//     statistics interpolated too ([Lerp]).
//   - [Surface]: 1D and 2D slices along random filter-normalized directions
//     ([FilterNormalizedDirection], Li et al. 2018).
//   - [Sharpness]: top Hessian eigenvalue by the Lanczos iteration (or a power
//     iteration, [SharpnessSettings].Solver), Hessian trace by
//     Hutchinson's estimator and, asked for, the eigenvalue density by stochastic
//     Lanczos quadrature ([HessianDensity], [DensityFigure]), on exact Hessian-vector
//     products (experiment.Net.HessianVectorProduct) or, asked for, central
//     differences of gradients ([HessianVectorProduct]).
//
// All losses are mean cross-entropies in inference mode; "train" is the clean training
// split with its true labels, "test" the test split.
//
// # Probe directory
//
// A probe refuses an output directory that already holds files ([ErrOutputNotEmpty]),
// then writes, each file atomically (temp file + rename):
//
//   - probe.json: a [ProbeInfo]: "probe" (the kind), "format" ("esp-probe/1"), "run" and
//     "weights" (absolute run directory; "final" or "init"), or "from" and "to"
//     ("DIR:final" or "DIR:init") for interpolate, "dataset" ({"name", "train", "test"}:
//     the example counts probed on), "run_relative" ("from_relative", "to_relative": the
//     same directories relative to the probe's, for a tree moved whole), "run_sha256"
//     ("from_sha256", "to_sha256": the checksums of the weights probed), "backend",
//     "settings" (defaults filled in), "toolkit_version", "started", and "finished" once
//     the probe completed (a probe without it was interrupted; reports leave it out).
//   - restart.jsonl: one [RestartEpoch] per line, epoch 0 the start point: "epoch",
//     "step", "train_loss", "train_acc", "test_loss", "test_acc", "dist_from_start",
//     "dist_from_init" (global L2), "fit_loss", "fit_acc" (minibatch means; not at
//     epoch 0), "seconds". Rewritten after every epoch.
//   - fullbatch.jsonl: one [FullBatchStep] per step and method, step 0 the start point:
//     "method" ("adam" or "gd"), "step", "loss" (clean training loss), "train_acc",
//     "test_acc", "test_loss" (these three null at steps not evaluated: only step 0,
//     every eval_every steps and the last are), "grad_norm" (global L2 norm of the full-batch
//     gradient), "dist_from_start", "lr" (the method's step size from that step on),
//     "top_eigenvalue" (λ_max, only at the steps sharpness_every measured), "seconds".
//     probe.json's settings record GD's step taken from the curvature
//     ("gd_auto_learning_rate", "gd_top_eigenvalue", "gd_learning_rate_from"), and
//     whether it followed λ_max along the descent ("gd_adaptive_learning_rate").
//   - interpolate.jsonl: one [InterpolationPoint] per α: "alpha", "train_loss",
//     "train_acc", "test_loss", "test_acc".
//   - surface1d.jsonl: one [SurfacePoint] per α along the first direction, same fields
//     as interpolate.jsonl; surface2d.json: a [Surface2D]: "alphas", "betas", and
//     "train_loss", "test_loss", "train_acc", "test_acc" as matrices, row i for
//     alphas[i]. probe.json's settings name the "directions" ("random" or "hessian"),
//     and Hessian directions' "direction_eigenvalues" and "directions_from".
//   - sharpness.json: a [SharpnessResult]: "top_eigenvalue", "top_eigenvalues" (with
//     settings' "top" above 1: the largest eigenvalues, largest first), "solver" ("lanczos" or
//     "power"; absent in files of earlier versions, which used the power iteration and
//     wrote "power_iterations" for "iterations"), "iterations", "converged", "top_eigenvalue_range" (where the last estimates ranged), "trace",
//     "trace_samples", "trace_std" (standard error of the trace estimate), "hvp"
//     ("exact" or "finite-difference"), "epsilon" (the
//     finite-difference step), "examples", "loss", "seconds", and with
//     DensityVectors "density", a [HessianDensity]: "vectors", "steps", "nodes" and
//     "weights" (one quadrature per vector), "smallest", "largest"; or, where a
//     Hessian-vector product on the way was not finite, "density_note" saying so.
//
// Non-finite numbers are written as null. Keep probe directories beside run
// directories, not inside them: the report does not look inside run directories.
package analysis
