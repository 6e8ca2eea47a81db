package membership

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestHandler: GET /members shows the pool as the member sees it, and 503 while no member
// runs, which the link controller reads as no word from gossip.
func TestHandler(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler(func() *Member { return nil }).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/members", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("no member: %d, want 503", rec.Code)
	}

	p := newPKI(t, "east")
	m := start(t, p, "east", loopback(1), []string{"east"})
	rec = httptest.NewRecorder()
	Handler(func() *Member { return m.Member }).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/members", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("%d: %s", rec.Code, rec.Body)
	}
	var got []MemberJSON
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "east" || got[0].Cluster != "east" || got[0].State != "alive" || got[0].Addr != m.Addr().String() {
		t.Errorf("got %+v, want east alive at %s", got, m.Addr())
	}
}
