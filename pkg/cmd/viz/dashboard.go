package viz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
	vizapi "github.com/meshfed/meshfed/pkg/viz"
	"github.com/meshfed/meshfed/pkg/viz/dashboard"
)

// DashboardOptions are the options of `mesh viz dashboard`.
type DashboardOptions struct {
	Address string
	Port    int

	api *apiFlags
	// listening, when set, gets the page's URL once it is served (tests).
	listening chan<- string
	cmdutil.IOStreams
}

func newCmdDashboard(f *apiFlags, streams cmdutil.IOStreams) *cobra.Command {
	o := &DashboardOptions{api: f, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Serve the federation's dashboard on this machine and print its URL",
		Long: `dashboard serves a web page on this machine (--address, --port) and prints its URL: every
cluster of the federation with its workloads, the edges between them (those that cross to
another cluster dashed, named with "@<cluster>"), each with its success rate and requests
per second, the gateway of each link alive or down, and charts of the last ten minutes
(click a workload to chart it alone). It refreshes every two seconds.

The page is in this binary and needs no network; its data comes from the viz API, which
this command reaches for it as stat does. It serves until interrupted (Ctrl-C).`,
		Example: `  mesh --context west viz dashboard
  mesh viz dashboard --port 0            # any free port
  mesh viz dashboard --api-url http://127.0.0.1:8084`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Port < 0 || o.Port > 65535 {
				return fmt.Errorf("--port %d: use 1 to 65535, or 0 for any free port", o.Port)
			}
			if net.ParseIP(o.Address) == nil {
				return fmt.Errorf("--address %q is not an IP address: use 127.0.0.1 (this machine alone) or another address of this machine", o.Address)
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&o.Address, "address", "127.0.0.1", "the address to serve the page on")
	cmd.Flags().IntVar(&o.Port, "port", 50750, "the port to serve the page on; 0 for any free port")
	return cmd
}

// Run serves the page until ctx ends.
func (o *DashboardOptions) Run(ctx context.Context) error {
	api, err := o.api.api()
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", net.JoinHostPort(o.Address, strconv.Itoa(o.Port)))
	if err != nil {
		return fmt.Errorf("serving the dashboard: %w (another port: --port)", err)
	}
	srv := &http.Server{Handler: dashboard.Handler(apiForwarder{api}), ReadHeaderTimeout: 10 * time.Second}
	url := "http://" + l.Addr().String() + "/"
	fmt.Fprintf(o.Out, "The dashboard is at %s (Ctrl-C to stop)\n", url)
	if o.listening != nil {
		o.listening <- url
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// apiForwarder answers the page's /api/ requests from the viz API, wherever it is.
type apiForwarder struct{ api API }

func (f apiForwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet {
		w.WriteHeader(http.StatusMethodNotAllowed)
		_ = json.NewEncoder(w).Encode(vizapi.APIError{Error: "the viz API answers GET only"})
		return
	}
	body, err := f.api.Get(r.Context(), r.URL.Path, r.URL.Query())
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		_ = json.NewEncoder(w).Encode(vizapi.APIError{Error: err.Error()})
		return
	}
	_, _ = w.Write(body)
}
