package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
	"github.com/streamgate/streamgate/internal/video"
)

// runVideo is `streamgate video get|update|delete|policy ...`: a creator's
// work on one video, through the gateway's MetadataService.
func runVideo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runGroup(ctx, "video", "Shows and changes one of your videos (signed in with streamgate login).", []command{
		{name: "get", short: "print a video: title, description, tags, state, access policy, renditions", run: runVideoGet},
		{name: "update", short: "change a video's --title, --description, --tags or --packaging (only the flags given)", run: runVideoUpdate},
		{name: "delete", short: "delete a video; its media is removed in the background", run: runVideoDelete},
		{name: "policy", short: "print a video's access policy, or set it (--policy, --policy-file, --public)", run: runVideoPolicy},
	}, args, stdout, stderr)
}

// runGroup runs the subcommand args[0] of a command group such as video.
func runGroup(ctx context.Context, group, about string, subs []command, args []string, stdout, stderr io.Writer) error {
	usage := func(w io.Writer) {
		fmt.Fprintf(w, "usage: streamgate %s <command> [flags]\n\n%s\n\ncommands:\n", group, about)
		for _, c := range subs {
			fmt.Fprintf(w, "  %-8s %s\n", c.name, c.short)
		}
		fmt.Fprintf(w, "\nRun streamgate %s <command> -h for a command's flags.\n", group)
	}
	if len(args) == 0 {
		usage(stderr)
		return errUsage
	}
	switch args[0] {
	case "help", "-h", "--help":
		usage(stdout)
		return nil
	}
	for _, c := range subs {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		if err == nil || err == errUsage {
			return err
		}
		// Named by the whole command: "streamgate video update: ...".
		fmt.Fprintf(stderr, "streamgate %s %s: %v\n", group, c.name, err)
		return printedError{err}
	}
	fmt.Fprintf(stderr, "streamgate %s: unknown command %q\n\n", group, args[0])
	usage(stderr)
	return errUsage
}

// printedError is a failure already printed on stderr: run exits 1
// without printing it again.
type printedError struct{ error }

func (p printedError) Unwrap() error { return p.error }

// subcommand is the flag set of one command of a group, and its usage
// error: the message, then the synopsis, on stderr.
type subcommand struct {
	fs       *flag.FlagSet
	name     string // "video get"
	synopsis string
	stderr   io.Writer
}

func newSubcommand(name, synopsis, about string, stderr io.Writer) *subcommand {
	s := &subcommand{fs: flag.NewFlagSet(name, flag.ContinueOnError), name: name, synopsis: synopsis, stderr: stderr}
	s.fs.SetOutput(stderr)
	s.fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: streamgate %s %s\n\n%s\n\nflags:\n", name, synopsis, about)
		s.fs.PrintDefaults()
	}
	return s
}

// usageErr reports a mistake in the command line; the command exits 2.
func (s *subcommand) usageErr(format string, a ...any) error {
	fmt.Fprintf(s.stderr, "streamgate %s: %s\nusage: streamgate %s %s\n", s.name, fmt.Sprintf(format, a...), s.name, s.synopsis)
	return errUsage
}

// parseOneID parses the flags and the one video or webhook id they
// surround.
func (s *subcommand) parseOneID(args []string, what string) (string, error) {
	positional, err := parseInterleaved(s.fs, args)
	if err != nil {
		return "", errUsage
	}
	if len(positional) != 1 {
		return "", s.usageErr("give exactly one %s, got %d arguments", what, len(positional))
	}
	return positional[0], nil
}

// videoTarget parses the one VIDEO_ID argument of a video subcommand and
// its flags, refusing a malformed id or sign-in flags before any call,
// and returns the id and the server's base URL.
func (s *subcommand) videoTarget(args []string, w *walletFlags) (id, base string, err error) {
	if id, err = s.parseOneID(args, "VIDEO_ID"); err != nil {
		return "", "", err
	}
	if err := s.checkVideoID(id); err != nil {
		return "", "", err
	}
	if base, err = w.check(); err != nil {
		return "", "", s.usageErr("%v", err)
	}
	return id, base, nil
}

// checkVideoID refuses what cannot be a video id before any call.
func (s *subcommand) checkVideoID(id string) error {
	if err := video.CheckID(id); err != nil {
		return s.usageErr("%q is not a video id (vid_...): %v", clipInput(id), err)
	}
	return nil
}

func runVideoGet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	s := newSubcommand("video get", "VIDEO_ID [--json] [--server URL]",
		"Prints a video. Deleted videos and videos not yet ready are shown only to their creator.", stderr)
	var w walletFlags
	w.register(s.fs, `print GetVideo's answer as one JSON document: {"video":{...}} (proto field names)`)
	id, base, err := s.videoTarget(args, &w)
	if err != nil {
		return err
	}
	v, err := getVideo(ctx, w.metadata(base), id)
	if err != nil {
		return w.result(stdout, w.explain(base, err))
	}
	if w.json {
		return printProto(stdout, &metadatav1.GetVideoResponse{Video: v})
	}
	return printVideo(stdout, v)
}

func runVideoUpdate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	s := newSubcommand("video update", "VIDEO_ID [--title T] [--description D] [--tags a,b,c] [--packaging auto|clear|encrypted] [--etag E] [--json] [--server URL]",
		"Changes the fields named by the flags given, and only those (--tags \"\" removes every tag).\n"+
			"Without --etag it reads the video first; a change by someone else in between is refused\n"+
			"(run it again). With --etag (from video get --json) only that version is changed.", stderr)
	var w walletFlags
	w.register(s.fs, `print UpdateVideo's answer as one JSON document: {"video":{...}}`)
	title := s.fs.String("title", "", "new title, 1 to 200 characters")
	description := s.fs.String("description", "", "new description, at most 5000 characters (\"\" clears it)")
	tags := s.fs.String("tags", "", "new tags, comma-separated: at most 20, each 1 to 32 of [a-z0-9-] (\"\" removes them)")
	var packaging packagingFlag
	s.fs.Var(&packaging, "packaging", packagingUsage+"; only while the video is uploading")
	etag := s.fs.String("etag", "", "change the video only if its etag is still this one")
	id, base, err := s.videoTarget(args, &w)
	if err != nil {
		return err
	}
	var change metadatav1.Video
	var paths []string
	s.fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "title":
			change.Title, paths = *title, append(paths, "title")
		case "description":
			change.Description, paths = *description, append(paths, "description")
		case "tags":
			paths = append(paths, "tags")
		case "packaging":
			change.Packaging, paths = packaging.value, append(paths, "packaging")
		}
	})
	if len(paths) == 0 {
		return s.usageErr("nothing to change: give --title, --description, --tags or --packaging")
	}
	if strings.TrimSpace(change.Title) == "" && slices.Contains(paths, "title") {
		return s.usageErr("--title must not be empty")
	}
	if slices.Contains(paths, "tags") {
		if change.Tags, err = splitList(*tags); err != nil {
			return s.usageErr("--tags: %v", err)
		}
	}
	v, err := updateVideo(ctx, w.metadata(base), id, *etag, &change, paths)
	if err != nil {
		return w.result(stdout, w.explain(base, err))
	}
	if w.json {
		return printProto(stdout, &metadatav1.UpdateVideoResponse{Video: v})
	}
	fmt.Fprintf(stdout, "updated %s: %s\n", id, strings.Join(paths, ", "))
	return printVideo(stdout, v)
}

func runVideoDelete(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	s := newSubcommand("video delete", "VIDEO_ID [--etag E] [--json] [--server URL]",
		"Deletes one of your videos: it stops playing at once, and its media is removed in the\n"+
			"background. Deleting a deleted video succeeds.", stderr)
	var w walletFlags
	w.register(s.fs, `print DeleteVideo's answer as one JSON document: {"video":{...}}`)
	etag := s.fs.String("etag", "", "delete the video only if its etag is still this one")
	id, base, err := s.videoTarget(args, &w)
	if err != nil {
		return err
	}
	res, err := w.metadata(base).DeleteVideo(ctx, connect.NewRequest(&metadatav1.DeleteVideoRequest{VideoId: id, Etag: *etag}))
	if err != nil {
		return w.result(stdout, w.explain(base, staleVideo(id, fmt.Errorf("delete video %s: %w", id, err))))
	}
	if w.json {
		return printProto(stdout, res.Msg)
	}
	_, err = fmt.Fprintf(stdout, "deleted %s (%s); its media is being removed\n", id, clip(res.Msg.GetVideo().GetTitle(), 60))
	return err
}

func runVideoPolicy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	s := newSubcommand("video policy", "VIDEO_ID [--policy SPEC... [--any|--all] | --policy-file FILE.json | --public] [--etag E] [--json] [--server URL]",
		"Without a policy flag, prints the video's access policy. With one, sets it:\n"+
			"  --policy "+erc721Syntax+"\n"+
			"  --policy "+erc1155Syntax+"\n"+
			"  --policy "+erc20Syntax+"\n"+
			"CHAIN is a chain id or a chain name the server lists; TOKEN_ID and MIN are decimal\n"+
			"(MIN in the token's smallest unit). Several --policy need --any or --all.\n"+
			"The new policy applies to the next playback token.", stderr)
	var w walletFlags
	w.register(s.fs, `print the access policy as one JSON document (an AccessPolicy message, which --policy-file reads)`)
	var pf policyFlags
	pf.register(s.fs, true)
	etag := s.fs.String("etag", "", "with a policy flag: change the video only if its etag is still this one")
	id, base, err := s.videoTarget(args, &w)
	if err != nil {
		return err
	}
	client := w.metadata(base)
	if !pf.given() {
		if pf.any || pf.all || *etag != "" {
			return s.usageErr("--any, --all and --etag go with --policy")
		}
		v, err := getVideo(ctx, client, id)
		if err != nil {
			return w.result(stdout, w.explain(base, err))
		}
		return printPolicy(stdout, v.GetAccessPolicy(), w.json)
	}
	p, err := pf.build(ctx, serverChains(base))
	var bad badInput
	if errors.As(err, &bad) {
		return s.usageErr("%v", err)
	}
	if err != nil {
		return w.result(stdout, err)
	}
	v, err := updateVideo(ctx, client, id, *etag, &metadatav1.Video{AccessPolicy: p}, []string{"access_policy"})
	if err != nil {
		return w.result(stdout, w.explain(base, err))
	}
	if !w.json {
		fmt.Fprintf(stdout, "access policy of %s set; it applies to the next playback token\n", id)
	}
	return printPolicy(stdout, v.GetAccessPolicy(), w.json)
}

// metadata is a MetadataService client through the gateway, as the wallet.
func (w *walletFlags) metadata(base string) metadatav1connect.MetadataServiceClient {
	return metadatav1connect.NewMetadataServiceClient(&http.Client{}, base, w.options(base)...)
}

func getVideo(ctx context.Context, client metadatav1connect.MetadataServiceClient, id string) (*metadatav1.Video, error) {
	res, err := client.GetVideo(ctx, connect.NewRequest(&metadatav1.GetVideoRequest{VideoId: id}))
	if err != nil {
		return nil, fmt.Errorf("get video %s: %w", id, err)
	}
	return res.Msg.GetVideo(), nil
}

// updateVideo changes the fields named by paths to their values in
// change. Without an etag it reads the video first, so that a change made
// between that read and this write is refused, not overwritten.
func updateVideo(ctx context.Context, client metadatav1connect.MetadataServiceClient, id, etag string, change *metadatav1.Video, paths []string) (*metadatav1.Video, error) {
	if etag == "" {
		v, err := getVideo(ctx, client, id)
		if err != nil {
			return nil, err
		}
		etag = v.GetEtag()
	}
	change.Id, change.Etag = id, etag
	res, err := client.UpdateVideo(ctx, connect.NewRequest(&metadatav1.UpdateVideoRequest{Video: change, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}}))
	if err != nil {
		return nil, staleVideo(id, fmt.Errorf("update video %s: %w", id, err))
	}
	return res.Msg.GetVideo(), nil
}

// staleVideo explains Aborted: the video changed since its etag was read.
func staleVideo(id string, err error) error {
	if connect.CodeOf(err) != connect.CodeAborted {
		return err
	}
	return fmt.Errorf("%w: video %s changed since its etag was read (someone else edited it); nothing was changed: read it again (video get) and retry", err, id)
}

// printVideo prints a video's fields, one per line.
func printVideo(w io.Writer, v *metadatav1.Video) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("id", v.GetId())
	row("title", v.GetTitle())
	if d := v.GetDescription(); d != "" {
		row("description", strings.Join(strings.Fields(d), " "))
	}
	if len(v.GetTags()) > 0 {
		row("tags", strings.Join(v.GetTags(), ", "))
	}
	state := statusName(v.GetStatus())
	if r := v.GetStatusReason(); r != "" {
		state += " (" + r + ")"
	}
	row("state", state)
	row("creator", v.GetCreatorAddress())
	row("duration", clockDuration(v.GetDuration().AsDuration(), v.GetDuration() != nil))
	row("access", describeAccess(v.GetAccessPolicy()))
	row("packaging", describePackaging(v))
	var rungs []string
	for _, r := range v.GetRenditions() {
		rungs = append(rungs, r.GetName())
	}
	if len(rungs) > 0 {
		row("renditions", strings.Join(rungs, ", "))
	}
	if t := v.GetCreateTime(); t != nil {
		row("created", t.AsTime().Local().Format(time.DateTime))
	}
	if t := v.GetUpdateTime(); t != nil {
		row("updated", t.AsTime().Local().Format(time.DateTime))
	}
	row("etag", v.GetEtag())
	return tw.Flush()
}

// describeAccess says who may watch, in words.
func describeAccess(p *authv1.AccessPolicy) string {
	if gatedLabel(p) == "no" {
		return "public: anyone may watch"
	}
	if pv := p.GetPreviewSeconds(); pv > 0 {
		return fmt.Sprintf("gated: viewers need %s (without it, a free preview of %d s)", describePolicy(p), pv)
	}
	return "gated: viewers need " + describePolicy(p)
}

// printPolicy prints a policy as JSON (public when unset, so the output
// always reads back with --policy-file), or in words with each rule in
// the --policy syntax.
func printPolicy(w io.Writer, p *authv1.AccessPolicy, asJSON bool) error {
	if p == nil {
		p = &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_PUBLIC}
	}
	if asJSON {
		return printProto(w, p)
	}
	if _, err := fmt.Fprintln(w, describeAccess(p)); err != nil || gatedLabel(p) == "no" {
		return err
	}
	var flags []string
	for _, r := range p.GetRules() {
		spec, ok := formatRuleSpec(r)
		if !ok {
			fmt.Fprintf(w, "  %s\n", describeRule(r))
			continue
		}
		fmt.Fprintf(w, "  %s\n", spec)
		flags = append(flags, "--policy "+spec)
	}
	if len(flags) == len(p.GetRules()) {
		if len(flags) > 1 {
			flags = append(flags, "--"+strings.ToLower(strings.TrimPrefix(p.GetMode().String(), "ACCESS_MODE_")))
		}
		_, err := fmt.Fprintf(w, "as flags: %s\n", strings.Join(flags, " "))
		return err
	}
	return nil
}

// splitList splits a comma-separated flag value; "" is the empty list.
func splitList(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return []string{}, nil
	}
	var out []string
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("item %d of %q is empty; want a,b,c", i+1, clipInput(s))
		}
		out = append(out, part)
	}
	return out, nil
}

const packagingUsage = "how the segments are packaged: auto (encrypted when the video is gated as its encode starts), clear, or encrypted (keys released per viewer)"

// packagingFlag is --packaging: auto, clear or encrypted.
type packagingFlag struct {
	value metadatav1.Packaging
	set   bool
}

func (p *packagingFlag) String() string {
	switch p.value {
	case metadatav1.Packaging_PACKAGING_CLEAR:
		return "clear"
	case metadatav1.Packaging_PACKAGING_ENCRYPTED:
		return "encrypted"
	}
	return "auto"
}

func (p *packagingFlag) Set(s string) error {
	switch strings.ToLower(s) {
	case "auto":
		p.value = metadatav1.Packaging_PACKAGING_UNSPECIFIED
	case "clear":
		p.value = metadatav1.Packaging_PACKAGING_CLEAR
	case "encrypted":
		p.value = metadatav1.Packaging_PACKAGING_ENCRYPTED
	default:
		return fmt.Errorf("%q: want auto, clear or encrypted", s)
	}
	p.set = true
	return nil
}

// describePackaging says how the media is packaged, and for an encoding
// video what it will be.
func describePackaging(v *metadatav1.Video) string {
	pf := packagingFlag{value: v.GetPackaging()}
	switch {
	case v.GetEncrypted():
		return pf.String() + ": encrypted (keys released per viewer)"
	case v.GetStatus() == metadatav1.VideoStatus_VIDEO_STATUS_READY:
		return pf.String() + ": clear"
	}
	return pf.String()
}
