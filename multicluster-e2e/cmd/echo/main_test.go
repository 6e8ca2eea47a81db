package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

func TestRunRefusesBadInput(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "usage"},
		{[]string{"nope"}, `unknown command "nope"`},
		{[]string{"get"}, "get needs one URL"},
		{[]string{"resolve", "a", "b"}, "resolve needs one name"},
		{[]string{"load-start"}, "load-start needs one URL"},
		{[]string{"serve", "--fail-percent", "101"}, "--fail-percent 101: give 0 to 100"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			err := run(tt.args, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// --fail-percent is how the suite makes a back end that fails half its calls: the share must
// be exact over any run of requests (the suite checks a success rate), and probes must pass.
func TestServeFailsTheShareAsked(t *testing.T) {
	for _, percent := range []int{0, 10, 50, 100} {
		t.Run(strconv.Itoa(percent), func(t *testing.T) {
			var load loader
			srv := httptest.NewServer(handler("web-0", percent, &load))
			defer srv.Close()
			failed := 0
			for i := 0; i < 200; i++ {
				resp, err := http.Get(srv.URL + "/")
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case resp.StatusCode == http.StatusInternalServerError && strings.Contains(string(body), "--fail-percent"):
					failed++
				case resp.StatusCode != http.StatusOK || string(body) != "echo web-0\n":
					t.Fatalf("request %d answered %s %q", i, resp.Status, body)
				}
				if i == 1 && percent == 50 && failed != 1 {
					t.Errorf("with 50%%, %d of the first two requests failed, want one: every second one", failed)
				}
				probe, err := http.Get(srv.URL + "/readyz")
				if err != nil {
					t.Fatal(err)
				}
				probe.Body.Close()
				if probe.StatusCode != http.StatusOK {
					t.Fatalf("the readiness probe answered %s with --fail-percent %d", probe.Status, percent)
				}
			}
			if want := 2 * percent; failed != want {
				t.Errorf("%d of 200 requests failed, want %d", failed, want)
			}
		})
	}
}
