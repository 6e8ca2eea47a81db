package proxy

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// A gRPC response's status is read where ReverseProxy leaves it: a trailer announced or
// not, or a header of a trailers-only response.
func TestGRPCStatus(t *testing.T) {
	tests := []struct {
		name   string
		header http.Header
		want   string
	}{
		{"plain HTTP", http.Header{}, ""},
		{"announced trailer", http.Header{"Grpc-Status": {"14"}}, "14"},
		{"unannounced trailer", http.Header{http.TrailerPrefix + "Grpc-Status": {"2"}}, "2"},
		{"trailers-only OK", http.Header{"Grpc-Status": {"0"}}, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			for k, v := range tt.header {
				w.Header()[k] = v
			}
			rec := &statusRecorder{ResponseWriter: w}
			if got := rec.grpcStatus(); got != tt.want {
				t.Errorf("grpcStatus() = %q, want %q", got, tt.want)
			}
		})
	}
}
