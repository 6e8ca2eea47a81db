package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"
)

// Load votes through the web front end at rate per second until ctx ends, logging a summary
// every interval.
func Load(ctx context.Context, log *slog.Logger, webURL string, rate int, interval time.Duration) error {
	if rate <= 0 {
		return fmt.Errorf("rate %d: give votes per second, at least 1", rate)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	report := time.NewTicker(interval)
	defer report.Stop()
	var ok, failed int
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-report.C:
			log.Info("votes", "ok", ok, "failed", failed)
			ok, failed = 0, 0
		case <-tick.C:
			e := catalogue[rand.IntN(len(catalogue))].Shortcode
			resp, err := client.Get(webURL + "/vote?emoji=" + e)
			if err != nil {
				failed++
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				ok++
			} else {
				failed++
			}
		}
	}
}
