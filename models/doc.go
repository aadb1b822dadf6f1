// Package models holds the network architectures of the extreme-overfitting
// experiments, written as GoMLX graph functions, and a registry of them by name.
//
// # Architectures
//
//   - "mlp": flatten -> dense 512 -> ReLU -> dense classes.
//   - "lenet": conv5x5 (16, 32, 64 filters, "same" padding) with ReLU, 2x2 max-pool
//     after the first two convolutions (after all three for 32x32x3 inputs), flatten,
//     fc 84, fc classes; optionally a ReLU between the two fully connected layers, or
//     fewer convolutions (the authors' smaller CNN has the first two and fc 64).
//   - "resnet": CIFAR-style ResNet: 3x3 conv stem with 16 channels, batch norm, ReLU,
//     three stages of basic blocks (16, 32, 64 channels, strides 1, 2, 2, projection
//     shortcuts where the shape changes: 1x1 convolutions, or 3x3 as in the authors'
//     code with Config.Shortcut3x3), global average pooling, fc 64 -> classes.
//
// They follow the authors' code of Merkulov & Oseledets, "Empirical study of extreme
// overfitting points of neural networks" (2019): Xavier (Glorot) uniform
// initialization of every convolution and dense weight, zero biases.
//
// # Usage
//
// [New] returns a [*Model]; its [Model.Logits] is a graph-building function that maps
// images shaped [batch, height, width, channels] (float32, NHWC) to logits shaped
// [batch, classes]. It creates its variables in the given [gmodel.Scope]: callers
// usually pass a sub-scope such as store.RootScope().In("model") so that the
// model's variables are kept apart from the optimizer's.
//
// [Model.CheckInput] tells whether a model takes images of a size: each of LeNet's
// max-pools halves the height and width, rounding down, so it needs at least 4x4 images
// (2x2 with one convolution); the MLP and the ResNet (whose strided convolutions are
// padded, rounding up) take any size. Smaller images are an error wrapping
// [ErrInputTooSmall], from CheckInput, and from a graph that Logits builds.
//
// # Formulations per backend
//
// On GoMLX's pure-Go backend ("go") convolution is written as the shifted windows of
// the padded input (one Gather for a stride-1 convolution), stacked on the channel
// axis, times the kernel reshaped to [kh*kw*cin, cout] in one matrix multiplication;
// 2x2 max-pooling is a reshape and transpose that put each window's 4 values on a
// last axis, summed against a one-hot of the window's first maximum, so that a tie's
// gradient goes to one input, as with PyTorch and XLA (ReduceMax gave it to every tied
// input). The backend's native convolution trained ~20x slower and its MaxPool had no
// gradient there. On other backends (XLA) the native Convolve and MaxPool ops are used.
// [Config.Formulation] overrides the choice; both give the same results up to float32
// rounding. A third, [Autodiff], has a gradient graph that can be differentiated again,
// which exact Hessian-vector products need: a stride-1 convolution is one Gather of
// patches and one matmul, as with Matmul, but its gradients are written out as such
// convolutions and patch products, whose gradients are written out in turn (the
// Gather's own gradient is never taken); a strided one is first made a stride-1
// convolution of the input's s x s blocks stacked as channels (space to depth: Pad,
// Reshape and Transpose, whose gradients autodiff takes), a strided 1x1 one is a
// strided Slice. ReLU is x·(x>0) on every backend: gradient 0 at 0, as PyTorch's.
//
// # Weight layouts
//
// Dense weights are stored [out, in] ("dense_0/weights"), convolution kernels
// [out_channels, kh, kw, in_channels] ("conv_0/weights"), biases [out]; inside the
// convolutional part activations are laid out channels-first, [C, N, H, W], and on
// the Go backend the dense layers pass their activations feature-major, [features,
// batch], computing W·xᵀ with their gradients written out. These choices give every
// large matrix multiplication of a training step (forward and gradients) a layout the
// Go backend's matmul takes without transposing a large operand, and W·xᵀ splits over
// the weight's rows, which the backend parallelizes better than the batch's: the MLP
// step went from 28 ms ([in, out] weights) to 17 ms ([out, in]) to 12-14 ms
// (feature-major) on a 2-core machine. The inputs and outputs of [Model.Logits] stay
// NHWC and [batch, classes].
//
// # Batch normalization
//
// The ResNet's batch normalization is implemented here (the Go backend has no fused
// batch-norm ops): in training mode it normalizes with the batch statistics and
// updates running mean and (unbiased) variance with PyTorch's convention
// (momentum 0.1, epsilon 1e-5); in inference mode it uses the running statistics.
// The running statistics are non-trainable variables of the model's scope, so they
// are saved and restored with the weights.
package models
