package membership

import (
	"encoding/json"
	"net/http"
	"time"
)

// MemberJSON is one member as GET /members shows it: what the link controller reads
// (pkg/mirror's GatewayMember takes cluster and state from it).
type MemberJSON struct {
	Name    string        `json:"name"`
	Cluster string        `json:"cluster"`
	Addr    string        `json:"addr"`
	State   string        `json:"state"`
	Since   time.Time     `json:"since"`
	RTT     time.Duration `json:"rttNanoseconds"`
}

// MembersJSON is ss as GET /members shows it.
func MembersJSON(ss []Status) []MemberJSON {
	out := make([]MemberJSON, 0, len(ss))
	for _, s := range ss {
		out = append(out, MemberJSON{Name: s.Name, Cluster: s.Cluster, Addr: s.Addr.String(), State: s.State.String(), Since: s.Since, RTT: s.RTT})
	}
	return out
}

// Handler answers GET /members with the pool as member() sees it. member returns nil while
// no member runs (gossip not started yet, or off): that is 503, which the link controller
// takes as "no word from gossip" and leaves the Links' probes to judge.
func Handler(member func() *Member) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		m := member()
		if m == nil {
			http.Error(w, "gossip is not running", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(MembersJSON(m.Members()))
	})
}
