// Command esp finds and studies points of extreme overfitting of neural networks:
// weights that are ~100% accurate on the training set and ~0% on the test set.
//
// Usage:
//
//	esp data list                                  datasets, sizes, source, checksum state
//	esp data fetch DATASET... [--from PATH]        mnist | fashion-mnist | cifar10 | NAME --from FOLDER
//	esp data show --dataset D [--corrupt S] [--out FILE.png]
//	esp models                                     the model registry
//	esp train --dataset D --model M [--corrupt S] [--epochs N] [--seed S] --out DIR
//	esp run --dataset D --model M --runs N [--workers W] [--ensemble K] [--shard I/N] --out DIR
//	esp probe restart|fullbatch|surface|sharpness --run DIR --out DIR
//	esp probe interpolate --from DIR[:init|final] --to DIR[:init|final] --out DIR  (--run DIR: its init to final)
//	esp probe sharpness --study DIR --out DIR      every run of a study, kinds compared
//	esp import --from STATE_DICT.pt --dataset D --model M --out DIR
//	esp report --in DIR [--out DIR]
//	esp reproduce --scale smoke|quick|paper --out DIR
//	esp setup-gpu [--dir DIR]                      the PJRT CUDA plugin, on request only
//	esp version [--backend B]
//
// Every subcommand takes -h (or: esp help COMMAND). Bad flags or values exit with code 2 and a message
// naming the valid choices.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := interruptible()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// interruptible returns a context that Ctrl-C or SIGTERM cancels. SIGTERM is how Slurm,
// Kubernetes and docker stop a job: it interrupts as Ctrl-C does (checkpoints kept,
// temporary files removed), not at once.
func interruptible() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}
