package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/extremepoints/esp/models"
)

func runModels(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("models", stderr, "models")
	if rest, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("models takes no arguments, got %q", rest)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tDESCRIPTION")
	for _, name := range models.Names() {
		fmt.Fprintf(tw, "%s\t%s\n", name, models.Describe(name))
	}
	return tw.Flush()
}
