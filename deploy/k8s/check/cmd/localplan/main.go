// Command localplan renders a kustomize overlay and prints the plan
// `streamgate cluster --plan` runs: the shipped configuration, as
// processes on one machine.
//
//	go run ./cmd/localplan [-source NAME] ../overlays/prod > plan.json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/streamgate/streamgate/deploy/k8s/check"
)

func main() {
	source := flag.String("source", "", "the overlay's name in the plan (default: OVERLAY_DIR)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: localplan [-source NAME] OVERLAY_DIR")
		os.Exit(2)
	}
	if *source == "" {
		*source = flag.Arg(0)
	}
	if err := run(flag.Arg(0), *source); err != nil {
		fmt.Fprintln(os.Stderr, "localplan:", err)
		os.Exit(1)
	}
}

func run(dir, source string) error {
	objs, err := check.Render(dir)
	if err != nil {
		return err
	}
	if err := check.Decode(objs); err != nil {
		return err
	}
	p, err := check.MakePlan(source, objs)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}
