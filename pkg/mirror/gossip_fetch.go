package mirror

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// FetchGatewayMembers reads the gossip pool's members from a gateway's GET /members (the
// local gateway's admin endpoint, which pkg/membership's Handler serves): what
// Options.GatewayMembers wants.
func FetchGatewayMembers(url string) func(context.Context) ([]GatewayMember, error) {
	client := &http.Client{}
	return func(ctx context.Context) ([]GatewayMember, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		var members []GatewayMember
		// The pool is a few members: a megabyte bounds a broken or hostile answer.
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&members); err != nil {
			return nil, fmt.Errorf("GET %s: %w", url, err)
		}
		return members, nil
	}
}
