// Command demo is the demo app, one binary for its four parts (package pkg/demo):
//
//	demo web --emoji-addr ADDR --voting-addr ADDR [--listen :8080]
//	demo emoji [--listen :8080]
//	demo voting [--listen :8080]
//	demo load --web-url URL [--rate 10]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	demov1 "github.com/meshfed/meshfed/pkg/apis/demo/v1"
	"github.com/meshfed/meshfed/pkg/demo"
)

const usage = "usage: demo web|emoji|voting|load [flags]"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	listen := fs.String("listen", ":8080", "address to serve on")
	emojiAddr := fs.String("emoji-addr", "emoji:8080", "the emoji service (web)")
	votingAddr := fs.String("voting-addr", "voting:8080", "the voting service (web)")
	webURL := fs.String("web-url", "http://web", "the front end (load)")
	rate := fs.Int("rate", 10, "votes per second (load)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	host, _ := os.Hostname()
	switch args[0] {
	case "emoji":
		return serveGRPC(ctx, *listen, func(g *grpc.Server) { demov1.RegisterEmojiServer(g, demo.EmojiServer{}) })
	case "voting":
		return serveGRPC(ctx, *listen, func(g *grpc.Server) { demov1.RegisterVotingServer(g, &demo.VotingServer{Name: host}) })
	case "web":
		dial := func(addr string) (*grpc.ClientConn, error) {
			// Plaintext: the mesh encrypts between pods; the app need not know.
			return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		}
		emoji, err := dial(*emojiAddr)
		if err != nil {
			return err
		}
		defer emoji.Close()
		voting, err := dial(*votingAddr)
		if err != nil {
			return err
		}
		defer voting.Close()
		w := &demo.Web{Emoji: demov1.NewEmojiClient(emoji), Voting: demov1.NewVotingClient(voting), Log: log}
		srv := &http.Server{Addr: *listen, Handler: w.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { <-ctx.Done(); srv.Close() }()
		if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	case "load":
		return demo.Load(ctx, log, *webURL, *rate, 10*time.Second)
	}
	return fmt.Errorf("unknown part %q; %s", args[0], usage)
}

func serveGRPC(ctx context.Context, addr string, register func(*grpc.Server)) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	g := grpc.NewServer()
	register(g)
	healthpb.RegisterHealthServer(g, health.NewServer())
	go func() { <-ctx.Done(); g.GracefulStop() }()
	return g.Serve(lis)
}
