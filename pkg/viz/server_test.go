package viz

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// unreachable is a Prometheus that never answers: enough for what is checked before any
// query is sent, and for a cluster that is down.
type unreachable struct{}

func (unreachable) Query(context.Context, string, time.Time, ...promv1.Option) (model.Value, promv1.Warnings, error) {
	return nil, nil, errors.New("connection refused")
}

func (unreachable) QueryRange(context.Context, string, promv1.Range, ...promv1.Option) (model.Value, promv1.Warnings, error) {
	return nil, nil, errors.New("connection refused")
}

func TestHandlerParameters(t *testing.T) {
	srv, err := NewServer([]Source{{Cluster: "west", Prometheus: unreachable{}}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	tests := []struct {
		path string
		code int
		want string
	}{
		{"/api/v1/stat?window=5m&kind=deploy", 200, `"error":"prometheus of west: connection refused"`},
		{"/api/v1/stat?window=1s", 400, "window=1s is out of range: use 10s to 1h"},
		{"/api/v1/stat?window=soon", 400, `window=\"soon\" is not a duration`},
		{"/api/v1/stat?kind=cronjob", 400, `kind: unknown workload kind \"cronjob\"`},
		{"/api/v1/edges?window=2h", 400, "window=2h is out of range"},
		{"/api/v1/series?minutes=0", 400, `minutes=\"0\": use a whole number from 1 to 60`},
		{"/api/v1/series?minutes=60&step=1s", 400, "makes 3600 points: at most 720"},
		{"/api/v1/series?step=0s", 400, "step=0s is out of range"},
		{"/api/v1/series?minutes=5", 200, `"series":[]`},
		{"/api/v1/overview", 200, `"links":[]`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.want) {
				t.Errorf("%d %s, want %d with %q", rec.Code, rec.Body.String(), tt.code, tt.want)
			}
			if !json.Valid(rec.Body.Bytes()) {
				t.Errorf("not JSON: %s", rec.Body.String())
			}
		})
	}
}

func TestNewServerRefuses(t *testing.T) {
	tests := []struct {
		name    string
		sources []Source
		want    string
	}{
		{"none", nil, "no Prometheus to read"},
		{"no name", []Source{{Prometheus: unreachable{}}}, "needs a cluster name"},
		{"twice", []Source{{Cluster: "west", Prometheus: unreachable{}}, {Cluster: "west", Prometheus: unreachable{}}}, "cluster west is given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewServer(tt.sources, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestNormalizeKind(t *testing.T) {
	for in, want := range map[string]string{"deploy": "deployment", "Deployments": "deployment", "sts": "statefulset", "": "", "all": "", "po": "pod"} {
		if got, err := NormalizeKind(in); err != nil || got != want {
			t.Errorf("NormalizeKind(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
