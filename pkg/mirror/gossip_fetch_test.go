package mirror

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestFetchGatewayMembers(t *testing.T) {
	for _, tt := range []struct {
		name    string
		status  int
		body    string
		want    []GatewayMember
		wantErr string
	}{
		{"the pool", http.StatusOK, `[{"name":"east-gw-0","cluster":"east","addr":"198.18.0.3:7946","state":"dead"},{"name":"west","cluster":"west","state":"alive"}]`,
			[]GatewayMember{{"east", "dead"}, {"west", "alive"}}, ""},
		{"gossip not running", http.StatusServiceUnavailable, "gossip is not running", nil, "503"},
		{"not JSON", http.StatusOK, "<html>", nil, "invalid character"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			got, err := FetchGatewayMembers(srv.URL + "/members")(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
