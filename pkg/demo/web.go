package demo

import (
	"encoding/json"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"

	demov1 "github.com/meshfed/meshfed/pkg/apis/demo/v1"
)

// Web is the front end: a page to vote from, and a JSON API the load generator uses.
type Web struct {
	Emoji  demov1.EmojiClient
	Voting demov1.VotingClient
	Log    *slog.Logger
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<title>meshfed demo</title>
<h1>Vote for an emoji</h1>
<p>{{range .Emoji}}<a href="/vote?emoji={{.Shortcode}}" style="font-size:3em;text-decoration:none">{{.Unicode}}</a> {{end}}</p>
<h2>Results</h2>
<ol>{{range .Results}}<li>{{.Shortcode}}: {{.Votes}}</li>{{end}}</ol>
`))

// Handler serves / (the page), /vote?emoji=X, /api/list, /api/results and /healthz.
func (w *Web) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", w.index)
	mux.HandleFunc("GET /vote", w.vote)
	mux.HandleFunc("GET /api/list", func(rw http.ResponseWriter, r *http.Request) {
		list, err := w.Emoji.List(r.Context(), &demov1.ListRequest{})
		w.reply(rw, list, err)
	})
	mux.HandleFunc("GET /api/results", func(rw http.ResponseWriter, r *http.Request) {
		res, err := w.Voting.Results(r.Context(), &demov1.ResultsRequest{})
		w.reply(rw, res, err)
	})
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) { fmt.Fprintln(rw, "ok") })
	return mux
}

func (w *Web) index(rw http.ResponseWriter, r *http.Request) {
	list, err := w.Emoji.List(r.Context(), &demov1.ListRequest{})
	if err != nil {
		w.fail(rw, "emoji", err)
		return
	}
	res, err := w.Voting.Results(r.Context(), &demov1.ResultsRequest{})
	if err != nil {
		w.fail(rw, "voting", err)
		return
	}
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	page.Execute(rw, map[string]any{"Emoji": list.GetEmoji(), "Results": res.GetResults()})
}

func (w *Web) vote(rw http.ResponseWriter, r *http.Request) {
	resp, err := w.Voting.Vote(r.Context(), &demov1.VoteRequest{Shortcode: r.URL.Query().Get("emoji")})
	w.reply(rw, resp, err)
}

func (w *Web) reply(rw http.ResponseWriter, v any, err error) {
	if err != nil {
		w.fail(rw, "back end", err)
		return
	}
	rw.Header().Set("Content-Type", "application/json")
	json.NewEncoder(rw).Encode(v)
}

func (w *Web) fail(rw http.ResponseWriter, what string, err error) {
	w.Log.Warn("back end failed", "backend", what, "error", err)
	http.Error(rw, what+": "+err.Error(), http.StatusBadGateway)
}
