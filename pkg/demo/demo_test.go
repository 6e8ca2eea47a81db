package demo

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	demov1 "github.com/meshfed/meshfed/pkg/apis/demo/v1"
)

// The front end votes through the back ends and shows the results, over real gRPC.
func TestVoteThroughWeb(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	demov1.RegisterEmojiServer(g, EmojiServer{})
	demov1.RegisterVotingServer(g, &VotingServer{Name: "voting-0"})
	go g.Serve(lis)
	defer g.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	web := httptest.NewServer((&Web{Emoji: demov1.NewEmojiClient(conn), Voting: demov1.NewVotingClient(conn), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
	defer web.Close()

	for _, e := range []string{"rocket", "rocket", "globe"} {
		resp, err := http.Get(web.URL + "/vote?emoji=" + e)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("vote %s: %v %v", e, resp.StatusCode, err)
		}
		resp.Body.Close()
	}
	resp, err := http.Get(web.URL + "/vote?emoji=nope")
	if err != nil || resp.StatusCode != http.StatusBadGateway {
		t.Errorf("a vote for no emoji: %v %v; want 502", resp.StatusCode, err)
	}
	resp.Body.Close()
	res, err := demov1.NewVotingClient(conn).Results(context.Background(), &demov1.ResultsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(res.GetResults())
	if want := `[{"shortcode":"rocket","votes":2},{"shortcode":"globe","votes":1}]`; string(got) != want {
		t.Errorf("results %s; want %s", got, want)
	}
}

// The load generator lists the emoji before each vote, as a person loading the page does, so
// that emoji has traffic too (mesh viz shows every part of the demo at work).
func TestVoteOnceListsThenVotes(t *testing.T) {
	var (
		mu    sync.Mutex
		paths []string
		down  atomic.Bool
	)
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		switch {
		case down.Load():
			http.Error(w, "down", http.StatusBadGateway)
		case r.URL.Path == "/vote" && r.URL.Query().Get("emoji") == "":
			http.Error(w, "no emoji", http.StatusBadRequest)
		}
	}))
	defer web.Close()
	if err := voteOnce(context.Background(), web.Client(), web.URL); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := strings.Join(paths, " ")
	mu.Unlock()
	if got != "/api/list /vote" {
		t.Errorf("one vote asked for %q, want /api/list then /vote", got)
	}
	down.Store(true)
	if err := voteOnce(context.Background(), web.Client(), web.URL); err == nil || !strings.Contains(err.Error(), "502") {
		t.Errorf("a vote through a failing front end: %v, want the 502", err)
	}
}
