package demo

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
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
