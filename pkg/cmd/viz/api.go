package viz

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
	vizapi "github.com/meshfed/meshfed/pkg/viz"
)

// Where the viz API runs, as `mesh viz install` puts it.
const (
	Namespace      = "mesh-viz"
	APIServiceName = "meshfed-viz"
	APIPortName    = "http"
	APIPort        = 8084
)

// API reaches the viz API: Get returns the body of a successful GET of path with query, and
// otherwise an error that says what the API said.
type API interface {
	Get(ctx context.Context, path string, query url.Values) ([]byte, error)
}

// urlAPI is the viz API at a URL (--api-url).
type urlAPI struct {
	base   string
	client *http.Client
}

func (a urlAPI) Get(ctx context.Context, path string, query url.Values) ([]byte, error) {
	u := strings.TrimSuffix(a.base, "/") + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("the viz API at %s: %w", a.base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("the viz API at %s: %w", a.base, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the viz API at %s answered %s: %s", a.base, resp.Status, apiMessage(body))
	}
	return body, nil
}

// proxyAPI is the viz API in a cluster, through its API server's service proxy.
type proxyAPI struct {
	clients *cmdutil.Clients
}

func (a proxyAPI) Get(ctx context.Context, path string, query url.Values) ([]byte, error) {
	params := map[string]string{}
	for k, v := range query {
		if len(v) > 0 {
			params[k] = v[0]
		}
	}
	body, err := a.clients.Kube.CoreV1().Services(Namespace).ProxyGet("http", APIServiceName, APIPortName, path, params).DoRaw(ctx)
	if err == nil {
		return body, nil
	}
	where := fmt.Sprintf("the viz API (Service %s/%s through %s)", Namespace, APIServiceName, a.clients.Host)
	switch {
	case apierrors.IsNotFound(err) && !strings.Contains(string(body), `"error"`):
		return nil, fmt.Errorf("%s: not found: install it with mesh viz install | kubectl apply -f -", where)
	case apierrors.IsForbidden(err):
		return nil, fmt.Errorf("%s: %w: you need the right to get services/proxy in %s", where, err, Namespace)
	case apierrors.IsServiceUnavailable(err):
		return nil, fmt.Errorf("%s has no ready pod: see kubectl -n %s get pods: %w", where, Namespace, err)
	}
	if m := apiMessage(body); m != "" {
		return nil, fmt.Errorf("%s: %s", where, m)
	}
	return nil, fmt.Errorf("%s: %w", where, err)
}

// apiMessage is the error the viz API wrote in body, or body itself.
func apiMessage(body []byte) string {
	var e vizapi.APIError
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	return strings.TrimSpace(string(body))
}

// getJSON gets path and decodes it into v.
func getJSON(ctx context.Context, api API, path string, query url.Values, v any) error {
	body, err := api.Get(ctx, path, query)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("reading the viz API's answer to %s: %w", path, err)
	}
	return nil
}

// apiFlags are how a command reaches the viz API.
type apiFlags struct {
	URL     string
	factory cmdutil.Factory
}

// api returns the viz API: at --api-url, else through the cluster's service proxy.
func (f *apiFlags) api() (API, error) {
	if f.URL != "" {
		u, err := url.Parse(f.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("--api-url %q is not an http(s) URL, such as http://127.0.0.1:8084", f.URL)
		}
		return urlAPI{base: f.URL, client: &http.Client{}}, nil
	}
	c, err := cmdutil.LocalClients(f.factory)
	if err != nil {
		return nil, err
	}
	return proxyAPI{clients: c}, nil
}
