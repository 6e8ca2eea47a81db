package demo

import (
	"context"
	"slices"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	demov1 "github.com/meshfed/meshfed/pkg/apis/demo/v1"
)

// catalogue is what can be voted for.
var catalogue = []*demov1.EmojiItem{
	{Shortcode: "rocket", Unicode: "🚀"}, {Shortcode: "globe", Unicode: "🌍"}, {Shortcode: "lock", Unicode: "🔒"},
	{Shortcode: "handshake", Unicode: "🤝"}, {Shortcode: "satellite", Unicode: "🛰️"}, {Shortcode: "bridge", Unicode: "🌉"},
}

// EmojiServer serves the catalogue.
type EmojiServer struct {
	demov1.UnimplementedEmojiServer
}

func (EmojiServer) List(context.Context, *demov1.ListRequest) (*demov1.ListResponse, error) {
	return &demov1.ListResponse{Emoji: catalogue}, nil
}

// VotingServer counts votes in memory.
type VotingServer struct {
	demov1.UnimplementedVotingServer
	// Name is the pod's, returned with each vote.
	Name string

	mu    sync.Mutex
	votes map[string]int64
}

func (v *VotingServer) Vote(_ context.Context, req *demov1.VoteRequest) (*demov1.VoteResponse, error) {
	if !slices.ContainsFunc(catalogue, func(e *demov1.EmojiItem) bool { return e.Shortcode == req.GetShortcode() }) {
		return nil, status.Errorf(codes.InvalidArgument, "no emoji %q: ask the emoji service what there is", req.GetShortcode())
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.votes == nil {
		v.votes = map[string]int64{}
	}
	v.votes[req.GetShortcode()]++
	return &demov1.VoteResponse{ServedBy: v.Name}, nil
}

func (v *VotingServer) Results(context.Context, *demov1.ResultsRequest) (*demov1.ResultsResponse, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := &demov1.ResultsResponse{}
	for s, n := range v.votes {
		out.Results = append(out.Results, &demov1.Result{Shortcode: s, Votes: n})
	}
	slices.SortFunc(out.Results, func(a, b *demov1.Result) int {
		if a.Votes != b.Votes {
			return int(b.Votes - a.Votes)
		}
		return strings.Compare(a.Shortcode, b.Shortcode)
	})
	return out, nil
}
