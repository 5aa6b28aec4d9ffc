package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/streamgate/streamgate/internal/buildinfo"
)

// errUsage reports a usage error the flag package has already printed.
var errUsage = errors.New("usage")

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: streamgate version")
		return errUsage
	}
	_, err := fmt.Fprintln(stdout, buildinfo.Read())
	return err
}
