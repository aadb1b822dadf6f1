package main

import (
	"context"
	"io"
)

func runModels(_ context.Context, args []string, stdout, stderr io.Writer) error {
	return usagef("not yet available")
}

func runTrain(_ context.Context, args []string, stdout, stderr io.Writer) error {
	return usagef("not yet available")
}
