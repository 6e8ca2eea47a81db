package viz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Limits of what a client may ask for: a window shorter than two scrapes has no rate, and a
// long range of fine steps costs Prometheus more than a dashboard is worth.
const (
	DefaultWindow  = time.Minute
	MinWindow      = 10 * time.Second
	MaxWindow      = time.Hour
	DefaultMinutes = 10
	MaxMinutes     = 60
	MaxPoints      = 720
)

// Server answers the viz API from the Prometheus of every cluster. Each request queries
// every Source side by side; a cluster whose Prometheus fails is reported in the answer's
// clusters, and the others still answer.
type Server struct {
	sources []Source
	log     *slog.Logger
	// now is the time queries are evaluated at; time.Now outside tests.
	now func() time.Time
	// timeout bounds each query.
	timeout time.Duration
	// recorded says every Prometheus has the RecordingRules: DefaultWindow is read from them.
	recorded bool
}

// Option tunes a Server.
type Option func(*Server)

// WithClock makes the server evaluate queries at now() instead of the wall clock.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithRecordingRules says every cluster's Prometheus loads RecordingRules (mesh viz
// install's do): answers for DefaultWindow read the recorded series, other windows the raw
// ones.
func WithRecordingRules() Option { return func(s *Server) { s.recorded = true } }

// WithQueryTimeout bounds each query to Prometheus (default 10s).
func WithQueryTimeout(d time.Duration) Option { return func(s *Server) { s.timeout = d } }

// NewServer returns a server over sources, one per cluster, each cluster named once.
func NewServer(sources []Source, log *slog.Logger, opts ...Option) (*Server, error) {
	if len(sources) == 0 {
		return nil, errors.New("no Prometheus to read: give one per cluster (--prometheus CLUSTER=URL)")
	}
	seen := map[string]bool{}
	for _, s := range sources {
		if s.Cluster == "" || s.Prometheus == nil {
			return nil, fmt.Errorf("source %q: a source needs a cluster name and a Prometheus", s.Cluster)
		}
		if seen[s.Cluster] {
			return nil, fmt.Errorf("cluster %s is given twice: give one Prometheus per cluster", s.Cluster)
		}
		seen[s.Cluster] = true
	}
	s := &Server{sources: slices.Clone(sources), log: log, now: time.Now, timeout: 10 * time.Second}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Overview queries every cluster and joins the answers.
func (s *Server) Overview(ctx context.Context, window time.Duration) Overview {
	return build(s.collect(ctx, window), model.Duration(window).String())
}

// partLabel tags each part of the one query collect sends a cluster.
const partLabel = "viz_part"

// collect asks every cluster, side by side, one query: every part of q joined by "or",
// each tagged with partLabel, then split back. One round trip per cluster costs far less
// than one per part: Prometheus' per-query work (parsing, the HTTP exchange, encoding the
// answer) was most of each small query's time.
func (s *Server) collect(ctx context.Context, window time.Duration) []clusterData {
	q := newQueries(window)
	if s.recorded && window == DefaultWindow {
		q = recordedQueries()
	}
	at := s.now()
	out := make([]clusterData, len(s.sources))
	var wg sync.WaitGroup
	for i, src := range s.sources {
		d := &out[i]
		d.Source = src
		parts := map[string]*model.Vector{
			"inbound": &d.inbound, "outbound": &d.outbound, "gateway_dials": &d.gatewayDials, "link_state": &d.linkState,
		}
		queries := map[string]string{
			"inbound": q.inbound, "outbound": q.outbound, "gateway_dials": q.gatewayDials, "link_state": q.linkState,
		}
		for i := range quantiles {
			in, outb := fmt.Sprintf("inbound_latency_%d", i), fmt.Sprintf("outbound_latency_%d", i)
			parts[in], parts[outb] = &d.inboundLatency[i], &d.outboundLatency[i]
			queries[in], queries[outb] = q.inboundLatency[i], q.outboundLatency[i]
		}
		names := slices.Sorted(maps.Keys(queries))
		var b strings.Builder
		for i, n := range names {
			if i > 0 {
				b.WriteString(" or ")
			}
			fmt.Fprintf(&b, `label_replace(%s, %q, %q, "", "")`, queries[n], partLabel, n)
		}
		wg.Go(func() {
			v, err := s.instant(ctx, src, b.String(), at)
			if err != nil {
				d.err = err
				return
			}
			for _, smp := range v {
				into, ok := parts[string(smp.Metric[partLabel])]
				if !ok {
					continue
				}
				delete(smp.Metric, partLabel)
				*into = append(*into, smp)
			}
		})
	}
	wg.Wait()
	return out
}

func (s *Server) instant(ctx context.Context, src Source, query string, at time.Time) (model.Vector, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	v, warnings, err := src.Prometheus.Query(ctx, query, at)
	if err != nil {
		return nil, fmt.Errorf("prometheus of %s: %w", src.Cluster, err)
	}
	if len(warnings) > 0 {
		s.log.Warn("prometheus warned", "cluster", src.Cluster, "query", query, "warnings", warnings)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("prometheus of %s answered a %s, not a vector", src.Cluster, v.Type())
	}
	return vec, nil
}

// SeriesRequest asks for the charts: every workload matching Cluster and Namespace (empty
// for all), over the last Minutes, a point every Step.
type SeriesRequest struct {
	Cluster, Namespace string
	Minutes            int
	Step, Window       time.Duration
}

// SeriesAnswer is the series of every workload asked for.
type SeriesAnswer struct {
	Clusters []ClusterStatus `json:"clusters"`
	Series   []Series        `json:"series"`
}

// Series queries the last minutes of every workload asked for.
func (s *Server) Series(ctx context.Context, r SeriesRequest) SeriesAnswer {
	// Steps on whole multiples of the step: Prometheus answers at start + k*step, and points
	// from every cluster and workload then fall on the same times.
	end := s.now().Truncate(r.Step)
	rng := promv1.Range{Start: end.Add(-time.Duration(r.Minutes) * time.Minute), End: end, Step: r.Step}
	reqQ, p99Q := seriesQueries(r.Window)
	if s.recorded && r.Window == DefaultWindow {
		reqQ, p99Q = recordedSeriesQueries()
	}
	type acc struct{ total, ok, p99 map[int64]float64 }
	ans := SeriesAnswer{Clusters: []ClusterStatus{}, Series: []Series{}}
	for _, src := range s.sources {
		if r.Cluster != "" && src.Cluster != r.Cluster {
			continue
		}
		st := ClusterStatus{Name: src.Cluster}
		var reqs, p99 model.Matrix
		var errs [2]error
		var wg sync.WaitGroup
		wg.Go(func() { reqs, errs[0] = s.rangeQuery(ctx, src, reqQ, rng) })
		wg.Go(func() { p99, errs[1] = s.rangeQuery(ctx, src, p99Q, rng) })
		wg.Wait()
		if err := errors.Join(errs[:]...); err != nil {
			st.Error = err.Error()
			ans.Clusters = append(ans.Clusters, st)
			continue
		}
		ans.Clusters = append(ans.Clusters, st)
		byWorkload := map[Workload]*acc{}
		get := func(m model.Metric) *acc {
			w := Workload{Cluster: src.Cluster, Namespace: string(m[labelNamespace]), Name: string(m["dst_workload"])}
			if w.Name == "" || (r.Namespace != "" && w.Namespace != r.Namespace) {
				return nil
			}
			a, ok := byWorkload[w]
			if !ok {
				a = &acc{map[int64]float64{}, map[int64]float64{}, map[int64]float64{}}
				byWorkload[w] = a
			}
			return a
		}
		for _, ss := range reqs {
			a := get(ss.Metric)
			if a == nil {
				continue
			}
			for _, p := range ss.Values {
				if math.IsNaN(float64(p.Value)) {
					continue
				}
				a.total[int64(p.Timestamp)] += float64(p.Value)
				if success(ss.Metric) {
					a.ok[int64(p.Timestamp)] += float64(p.Value)
				}
			}
		}
		for _, ss := range p99 {
			a := get(ss.Metric)
			if a == nil {
				continue
			}
			for _, p := range ss.Values {
				if v := float64(p.Value); !math.IsNaN(v) && !math.IsInf(v, 0) {
					a.p99[int64(p.Timestamp)] = v * 1000
				}
			}
		}
		for w, a := range byWorkload {
			se := Series{Workload: w, Points: []Point{}}
			for t := rng.Start; !t.After(end); t = t.Add(r.Step) {
				ms := t.UnixMilli()
				p := Point{T: ms, RPS: a.total[ms]}
				if a.total[ms] > 0 {
					p.SuccessRate = ptr(a.ok[ms] / a.total[ms])
				}
				if v, ok := a.p99[ms]; ok {
					p.P99 = ptr(v)
				}
				se.Points = append(se.Points, p)
			}
			ans.Series = append(ans.Series, se)
		}
	}
	slices.SortFunc(ans.Series, func(a, b Series) int { return compareWorkloads(a.Workload, b.Workload) })
	return ans
}

func (s *Server) rangeQuery(ctx context.Context, src Source, query string, r promv1.Range) (model.Matrix, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	v, _, err := src.Prometheus.QueryRange(ctx, query, r)
	if err != nil {
		return nil, fmt.Errorf("prometheus of %s: %w", src.Cluster, err)
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return nil, fmt.Errorf("prometheus of %s answered a %s, not a matrix", src.Cluster, v.Type())
	}
	return m, nil
}

// StatAnswer is /api/v1/stat's.
type StatAnswer struct {
	Window    string          `json:"window"`
	Clusters  []ClusterStatus `json:"clusters"`
	Workloads []WorkloadStat  `json:"workloads"`
}

// EdgesAnswer is /api/v1/edges'.
type EdgesAnswer struct {
	Window   string          `json:"window"`
	Clusters []ClusterStatus `json:"clusters"`
	Edges    []Edge          `json:"edges"`
}

// Filter selects workloads: each field empty matches all. Kind is a kind's full name in
// lower case ("deployment"): see NormalizeKind.
type Filter struct {
	Cluster, Namespace, Kind string
}

// Match says whether w is selected.
func (f Filter) Match(w Workload) bool {
	return (f.Cluster == "" || w.Cluster == f.Cluster) && (f.Namespace == "" || w.Namespace == f.Namespace) &&
		(f.Kind == "" || w.Kind() == f.Kind)
}

// kinds are the workload kinds a proxy names, by the names kubectl accepts for each.
var kinds = map[string]string{
	"deploy": "deployment", "deployment": "deployment", "deployments": "deployment",
	"sts": "statefulset", "statefulset": "statefulset", "statefulsets": "statefulset",
	"ds": "daemonset", "daemonset": "daemonset", "daemonsets": "daemonset",
	"rs": "replicaset", "replicaset": "replicaset", "replicasets": "replicaset",
	"job": "job", "jobs": "job",
	"po": "pod", "pod": "pod", "pods": "pod",
}

// NormalizeKind turns a kind as kubectl takes it ("deploy", "deployments") into the name the
// proxies use ("deployment"); "" and "all" select every kind.
func NormalizeKind(k string) (string, error) {
	k = strings.ToLower(k)
	if k == "" || k == "all" {
		return "", nil
	}
	if n, ok := kinds[k]; ok {
		return n, nil
	}
	names := slices.Sorted(func(yield func(string) bool) {
		seen := map[string]bool{}
		for _, v := range kinds {
			if !seen[v] && !yield(v) {
				return
			}
			seen[v] = true
		}
	})
	return "", fmt.Errorf("unknown workload kind %q: use one of %s (or a short name such as deploy), or all", k, strings.Join(names, ", "))
}

// Handler serves the API:
//
//	GET /api/v1/overview?window=1m                       workloads, edges, links and clusters
//	GET /api/v1/stat?window=&cluster=&namespace=&kind=   workloads
//	GET /api/v1/edges?window=&cluster=&namespace=        edges touching the namespace
//	GET /api/v1/series?cluster=&namespace=&minutes=10&step=15s&window=1m
//	GET /healthz
//
// A bad parameter gets a 400 naming it.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /api/v1/overview", func(w http.ResponseWriter, r *http.Request) {
		win, err := windowParam(r)
		if err != nil {
			badRequest(w, err)
			return
		}
		s.reply(w, s.Overview(r.Context(), win))
	})
	mux.HandleFunc("GET /api/v1/stat", func(w http.ResponseWriter, r *http.Request) {
		win, f, err := statParams(r)
		if err != nil {
			badRequest(w, err)
			return
		}
		ov := s.Overview(r.Context(), win)
		ans := StatAnswer{Window: ov.Window, Clusters: ov.Clusters, Workloads: []WorkloadStat{}}
		for _, ws := range ov.Workloads {
			if f.Match(ws.Workload) {
				ans.Workloads = append(ans.Workloads, ws)
			}
		}
		s.reply(w, ans)
	})
	mux.HandleFunc("GET /api/v1/edges", func(w http.ResponseWriter, r *http.Request) {
		win, f, err := statParams(r)
		if err != nil {
			badRequest(w, err)
			return
		}
		ov := s.Overview(r.Context(), win)
		ans := EdgesAnswer{Window: ov.Window, Clusters: ov.Clusters, Edges: []Edge{}}
		for _, e := range ov.Edges {
			if f.Match(e.Src) || f.Match(e.Dst) {
				ans.Edges = append(ans.Edges, e)
			}
		}
		s.reply(w, ans)
	})
	mux.HandleFunc("GET /api/v1/series", func(w http.ResponseWriter, r *http.Request) {
		req, err := seriesParams(r)
		if err != nil {
			badRequest(w, err)
			return
		}
		s.reply(w, s.Series(r.Context(), req))
	})
	return mux
}

func (s *Server) reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		s.log.Debug("writing an answer", "error", err)
	}
}

// APIError is the body of a failed request.
type APIError struct {
	Error string `json:"error"`
}

func badRequest(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(APIError{Error: err.Error()})
}

func windowParam(r *http.Request) (time.Duration, error) {
	return durationParam(r, "window", DefaultWindow, MinWindow, MaxWindow)
}

func durationParam(r *http.Request, name string, def, lo, hi time.Duration) (time.Duration, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	d, err := model.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q is not a duration: use a Prometheus duration such as 30s or 1m", name, v)
	}
	if time.Duration(d) < lo || time.Duration(d) > hi {
		return 0, fmt.Errorf("%s=%s is out of range: use %s to %s", name, v, model.Duration(lo), model.Duration(hi))
	}
	return time.Duration(d), nil
}

func statParams(r *http.Request) (time.Duration, Filter, error) {
	win, err := windowParam(r)
	if err != nil {
		return 0, Filter{}, err
	}
	q := r.URL.Query()
	kind, err := NormalizeKind(q.Get("kind"))
	if err != nil {
		return 0, Filter{}, fmt.Errorf("kind: %w", err)
	}
	return win, Filter{Cluster: q.Get("cluster"), Namespace: q.Get("namespace"), Kind: kind}, nil
}

func seriesParams(r *http.Request) (SeriesRequest, error) {
	win, err := windowParam(r)
	if err != nil {
		return SeriesRequest{}, err
	}
	step, err := durationParam(r, "step", 15*time.Second, time.Second, 10*time.Minute)
	if err != nil {
		return SeriesRequest{}, err
	}
	q := r.URL.Query()
	minutes := DefaultMinutes
	if v := q.Get("minutes"); v != "" {
		minutes, err = strconv.Atoi(v)
		if err != nil || minutes < 1 || minutes > MaxMinutes {
			return SeriesRequest{}, fmt.Errorf("minutes=%q: use a whole number from 1 to %d", v, MaxMinutes)
		}
	}
	if n := time.Duration(minutes) * time.Minute / step; n > MaxPoints {
		return SeriesRequest{}, fmt.Errorf("minutes=%d with step=%s makes %d points: at most %d, so use a longer step", minutes, model.Duration(step), n, MaxPoints)
	}
	return SeriesRequest{Cluster: q.Get("cluster"), Namespace: q.Get("namespace"), Minutes: minutes, Step: step, Window: win}, nil
}
