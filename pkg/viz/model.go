package viz

import (
	"fmt"
	"strings"
)

// Workload is one workload of one cluster: Name is "<kind>/<name>" as the proxies label it
// ("deployment/web"), or "service/<name>" for a destination known only by its Service.
type Workload struct {
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// String is "cluster/namespace/kind/name".
func (w Workload) String() string { return w.Cluster + "/" + w.Namespace + "/" + w.Name }

// Kind is the workload's kind ("deployment"), Short its name ("web").
func (w Workload) Kind() string { k, _, _ := strings.Cut(w.Name, "/"); return k }
func (w Workload) Short() string {
	_, n, ok := strings.Cut(w.Name, "/")
	if !ok {
		return w.Name
	}
	return n
}

// Golden are the golden metrics of a workload or an edge over the query window. Rates are
// per second; a nil field has no value (no request in the window).
type Golden struct {
	// RPS is requests per second, every status included.
	RPS float64 `json:"rps"`
	// SuccessRate is the share of requests answered with a status below 500, 0 to 1.
	SuccessRate *float64 `json:"successRate"`
	// TLSShare is the share of requests carried over mTLS, 0 to 1.
	TLSShare *float64 `json:"tlsShare"`
	// Latencies in milliseconds, to the end of the response.
	P50 *float64 `json:"latencyP50Ms"`
	P95 *float64 `json:"latencyP95Ms"`
	P99 *float64 `json:"latencyP99Ms"`
}

// WorkloadStat is one workload's golden metrics.
type WorkloadStat struct {
	Workload
	Golden
}

// Edge is the traffic from one workload to another, as the caller's proxies saw it.
type Edge struct {
	// Name is "src -> dst", dst suffixed with "@<cluster>" when the call crossed a gateway
	// to another cluster.
	Name string   `json:"name"`
	Src  Workload `json:"src"`
	Dst  Workload `json:"dst"`
	// Gateway is the remote cluster whose east-west gateway carried the calls; empty for
	// calls inside the cluster.
	Gateway string `json:"gateway,omitempty"`
	// Authority is the host the caller asked for (a Service's name, a mirror's for a
	// remote one).
	Authority string `json:"authority"`
	Golden
}

// edgeName names an edge as Edge.Name says.
func edgeName(src, dst Workload, gateway string) string {
	d := dst.Name
	if gateway != "" {
		d += "@" + gateway
	} else if dst.Namespace != src.Namespace {
		d = dst.Namespace + "/" + d
	}
	return src.Name + " -> " + d
}

// Point is one step of a time series: unix milliseconds and the golden values then.
type Point struct {
	T           int64    `json:"t"`
	RPS         float64  `json:"rps"`
	SuccessRate *float64 `json:"successRate"`
	P99         *float64 `json:"latencyP99Ms"`
}

// Series is a workload's golden metrics over the last minutes.
type Series struct {
	Workload Workload `json:"workload"`
	Points   []Point  `json:"points"`
}

// Link is what one cluster knows of another it is linked to: the link controller's watch of
// it, and how the proxies' tunnels through its gateway fare.
type Link struct {
	// Cluster is the cluster that holds the Link, Remote the one it links to.
	Cluster string `json:"cluster"`
	Remote  string `json:"remote"`
	// RemoteState is the link controller's: starting, healthy, unreachable or
	// not-running; empty when no link controller reports this remote.
	RemoteState string `json:"remoteState,omitempty"`
	// GatewayDialsPerSec and GatewayDialSuccess are the proxies' tunnels through the
	// remote's gateway; nil success when none was opened in the window.
	GatewayDialsPerSec float64  `json:"gatewayDialsPerSec"`
	GatewayDialSuccess *float64 `json:"gatewayDialSuccess"`
	// GatewayAlive is the answer to "is the remote gateway up?": true when the link
	// controller's watch is healthy and no tunnel failed in the window, false when either
	// says otherwise, nil when nothing is known.
	GatewayAlive *bool `json:"gatewayAlive"`
}

// ClusterStatus says whether one cluster's Prometheus answered.
type ClusterStatus struct {
	Name  string `json:"name"`
	Error string `json:"error,omitempty"`
}

// Overview is everything the dashboard draws, from one set of queries.
type Overview struct {
	Window    string          `json:"window"`
	Clusters  []ClusterStatus `json:"clusters"`
	Workloads []WorkloadStat  `json:"workloads"`
	Edges     []Edge          `json:"edges"`
	Links     []Link          `json:"links"`
}

// remoteStates are meshfed_link_remote_state's values, by number.
var remoteStates = []string{"starting", "healthy", "unreachable", "not-running"}

func remoteState(v float64) string {
	i := int(v)
	if float64(i) != v || i < 0 || i >= len(remoteStates) {
		return fmt.Sprintf("unknown(%g)", v)
	}
	return remoteStates[i]
}

func ptr[T any](v T) *T { return &v }
