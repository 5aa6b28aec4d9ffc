package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
	"github.com/streamgate/streamgate/internal/identity"
)

// runLs is `streamgate ls [--all | --creator 0x...] [--status S] [--gated
// public|gated] [--tag T] [--page-size N] [--page-token T] [--json]
// [--server URL]`.
//
// Signed in (a session stored by `streamgate login` for --server), it lists
// the caller's own videos in every state but deleted, which is what a
// creator wants after an upload. Otherwise, or with --all, it lists the
// public catalogue: everyone's READY videos (metadata lists other states
// only to their creator).
func runLs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ls", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: streamgate ls [--all | --creator 0x...] [--status S] [--gated public|gated] [--tag T]\n                     [--page-size N] [--page-token T] [--json] [--server URL]")
		fmt.Fprintln(stderr, "\nLists your videos when signed in (streamgate login), else everyone's ready videos.\n\nflags:")
		fs.PrintDefaults()
	}
	var c clientFlags
	c.register(fs, `print the page as one JSON document: {"videos":[...],"next_page_token":"..."} (proto field names)`)
	all := fs.Bool("all", false, "list everyone's ready videos even when signed in")
	creator := fs.String("creator", "", "list this wallet's videos (ready ones only, unless it is yours)")
	status := fs.String("status", "", "only videos in this state: uploading, processing, ready, failed or deleted")
	gated := fs.String("gated", "", "only public or only gated videos: public or gated")
	tag := fs.String("tag", "", "only videos with this tag")
	pageSize := fs.Int("page-size", 20, "videos per page, 1 to 100")
	pageToken := fs.String("page-token", "", "next_page_token of the previous page")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	usageErr := func(format string, a ...any) error {
		fmt.Fprintf(stderr, "streamgate ls: "+format+"\n", a...)
		fs.Usage()
		return errUsage
	}
	if fs.NArg() != 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	base, err := c.base()
	if err != nil {
		return usageErr("%v", err)
	}
	if *all && *creator != "" {
		return usageErr("give at most one of --all and --creator")
	}
	if *pageSize < 1 || *pageSize > 100 {
		return usageErr("--page-size must be 1 to 100")
	}
	req := &metadatav1.ListVideosRequest{PageSize: int32(*pageSize), PageToken: *pageToken, Tag: *tag}
	if *creator != "" {
		addr, err := identity.NormalizeAddress(*creator)
		if err != nil {
			return usageErr("--creator: %v", err)
		}
		req.CreatorAddress = addr
	}
	if *status != "" {
		v, ok := metadatav1.VideoStatus_value["VIDEO_STATUS_"+strings.ToUpper(*status)]
		if !ok || v == 0 {
			return usageErr("--status must be uploading, processing, ready, failed or deleted, not %q", *status)
		}
		req.Status = metadatav1.VideoStatus(v)
	}
	switch *gated {
	case "":
	case "public":
		req.Gated = metadatav1.GatedFilter_GATED_FILTER_PUBLIC
	case "gated":
		req.Gated = metadatav1.GatedFilter_GATED_FILTER_GATED
	default:
		return usageErr("--gated must be public or gated, not %q", *gated)
	}
	sess := sessionFor(base)
	if sess != nil && !*all && req.CreatorAddress == "" {
		req.CreatorAddress = sess.Address
	}
	err = func() error {
		res, err := newMetadataClient(base, sess != nil).ListVideos(ctx, connect.NewRequest(req))
		if err != nil {
			return fmt.Errorf("list videos: %w", err)
		}
		if c.json {
			return printProto(stdout, res.Msg)
		}
		if sess == nil && req.CreatorAddress == "" && !*all {
			fmt.Fprintln(stderr, "not signed in: listing everyone's ready videos (streamgate login to list yours)")
		}
		return printVideos(stdout, stderr, res.Msg.GetVideos(), res.Msg.GetNextPageToken(), "streamgate ls --page-token ")
	}()
	return c.result(stdout, err)
}

// runSearch is `streamgate search QUERY... [--page-size N] [--page-token T]
// [--json] [--server URL]`: full-text search over ready videos.
func runSearch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("search", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: streamgate search QUERY... [--page-size N] [--page-token T] [--json] [--server URL]")
		fmt.Fprintln(stderr, "\nSearches ready videos by title, description and tags (every word must match;\nthe last one as a prefix), best match first.\n\nflags:")
		fs.PrintDefaults()
	}
	var c clientFlags
	c.register(fs, `print the page as one JSON document: {"videos":[...],"next_page_token":"..."} (proto field names)`)
	pageSize := fs.Int("page-size", 20, "results per page, 1 to 50")
	pageToken := fs.String("page-token", "", "next_page_token of the previous page")
	words, err := parseInterleaved(fs, args)
	if err != nil {
		return errUsage
	}
	query := strings.TrimSpace(strings.Join(words, " "))
	if query == "" {
		fs.Usage()
		return errUsage
	}
	base, err := c.base()
	if err != nil {
		fmt.Fprintf(stderr, "streamgate search: %v\n", err)
		return errUsage
	}
	if *pageSize < 1 || *pageSize > 50 {
		fmt.Fprintln(stderr, "streamgate search: --page-size must be 1 to 50")
		return errUsage
	}
	err = func() error {
		res, err := newMetadataClient(base, false).SearchVideos(ctx, connect.NewRequest(&metadatav1.SearchVideosRequest{
			Query: query, PageSize: int32(*pageSize), PageToken: *pageToken,
		}))
		if err != nil {
			return fmt.Errorf("search: %w", err)
		}
		if c.json {
			return printProto(stdout, res.Msg)
		}
		return printVideos(stdout, stderr, res.Msg.GetVideos(), res.Msg.GetNextPageToken(),
			fmt.Sprintf("streamgate search %q --page-token ", query))
	}()
	return c.result(stdout, err)
}

// newMetadataClient calls metadata through the gateway, as the stored
// session's wallet when withSession is set.
func newMetadataClient(base string, withSession bool) metadatav1connect.MetadataServiceClient {
	var opts []connect.ClientOption
	if withSession {
		opts = append(opts, connect.WithInterceptors(sessionInterceptor{}))
	}
	return metadatav1connect.NewMetadataServiceClient(&http.Client{}, base, opts...)
}

// sessionInterceptor sends the stored session's bearer token on unary
// calls, refreshing it first when needed.
type sessionInterceptor struct{}

func (sessionInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if err := authorizeSession(ctx, req.Header()); err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

func (sessionInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (sessionInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// printVideos prints a table of videos, and where the next page is.
func printVideos(stdout, stderr io.Writer, videos []*metadatav1.Video, next, nextCmd string) error {
	if len(videos) == 0 {
		_, err := fmt.Fprintln(stdout, "no videos")
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTITLE\tSTATE\tDURATION\tGATED\tCREATED")
	for _, v := range videos {
		created := "-"
		if t := v.GetCreateTime(); t != nil {
			created = t.AsTime().Local().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.GetId(), clip(v.GetTitle(), 40), statusName(v.GetStatus()),
			clockDuration(v.GetDuration().AsDuration(), v.GetDuration() != nil), gatedLabel(v.GetAccessPolicy()), created)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if next != "" {
		fmt.Fprintf(stderr, "more: %s%s\n", nextCmd, next)
	}
	return nil
}

func statusName(s metadatav1.VideoStatus) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "VIDEO_STATUS_"))
}

// clockDuration is h:mm:ss or m:ss; "-" when unknown.
func clockDuration(d time.Duration, known bool) string {
	if !known {
		return "-"
	}
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

func gatedLabel(p *authv1.AccessPolicy) string {
	if p == nil || p.GetMode() == authv1.AccessMode_ACCESS_MODE_PUBLIC || p.GetMode() == authv1.AccessMode_ACCESS_MODE_UNSPECIFIED {
		return "no"
	}
	return "yes"
}

// clip shortens s to n runes for a table cell, and flattens whitespace (a
// title with a tab or newline would break the columns).
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
