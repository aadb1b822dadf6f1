package main

import (
	"context"
	"io"
)

// The many-runs and reproduce commands; each lives in its own file once built.

func runRun(_ context.Context, args []string, stdout, stderr io.Writer) error {
	return usagef("esp run is not built yet")
}

func runReproduce(_ context.Context, args []string, stdout, stderr io.Writer) error {
	return usagef("esp reproduce is not built yet")
}
