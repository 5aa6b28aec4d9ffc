// Command streamgate is the one StreamGate binary: every service, the
// development environment and the client commands are subcommands of it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one subcommand.
type command struct {
	name  string
	short string
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{name: "certs", short: "make the mesh's mutual TLS certificates: a CA (init), a service's certificate (issue)", run: runCerts},
		{name: "cluster", short: "run a local production-shaped cluster: 3 etcd, 3 NATS, PostgreSQL, Redis, S3, two processes of every service", run: runCluster},
		{name: "dev", short: "run the whole platform on this machine (embedded etcd, NATS and dev chain) with a seeded demo", run: runDev},
		{name: "dev-mint", short: "mint a demo pass on the dev chain (streamgate dev only)", run: runDevMint},
		{name: "embedded", short: "run one embedded etcd member or NATS server (streamgate cluster starts them)", run: runEmbedded},
		{name: "login", short: "sign in with an Ethereum key (--key FILE) or the dev wallet (--dev)", run: runLogin},
		{name: "ls", short: "list your videos (signed in) or everyone's ready videos (--all)", run: runLs},
		{name: "play", short: "print a video's tokenized HLS URL, or play it with ffplay (--ffplay)", run: runPlay},
		{name: "search", short: "full-text search over ready videos", run: runSearch},
		{name: "serve", short: "run one or several services against existing etcd and NATS", run: runServe},
		{name: "upload", short: "upload a video file (resumable; re-run to resume)", run: runUpload},
		{name: "version", short: "print the version and exit", run: runVersion},
		{name: "video", short: "show, edit, delete a video or set its access policy (get, update, delete, policy)", run: runVideo},
		{name: "watch", short: "follow a transcode job until it ends", run: runWatch},
		{name: "webhook", short: "manage your webhooks (create, ls, rm, test)", run: runWebhook},
	}
}

// run dispatches to a subcommand and returns the process exit code:
// 0 on success, 1 on failure, 2 on a usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		if err := c.run(ctx, args[1:], stdout, stderr); err != nil {
			if err == errUsage {
				return 2
			}
			if errors.As(err, new(printedError)) {
				return 1
			}
			fmt.Fprintf(stderr, "streamgate %s: %v\n", c.name, err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stderr, "streamgate: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: streamgate <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.short)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Client commands (login, upload, watch, ls, search, play, video, webhook) take --server URL")
	fmt.Fprintln(w, "(default "+defaultServer+") and --json. With --json a failure is also printed")
	fmt.Fprintln(w, `on stdout as {"error":{"code":"permission_denied","message":"..."}}.`)
	fmt.Fprintln(w, "Errors go to stderr; the exit code is 1 on failure, 2 on a usage error.")
	fmt.Fprintln(w, "Run streamgate <command> -h for a command's flags.")
}
