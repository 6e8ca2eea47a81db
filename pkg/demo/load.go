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
// every interval. Each vote is what a person does: load what can be voted for, then vote,
// so that every part of the demo has traffic (the list is emoji's, the vote voting's).
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
			if err := voteOnce(ctx, client, webURL); err != nil {
				failed++
			} else {
				ok++
			}
		}
	}
}

// voteOnce lists the emoji, then votes for one of the catalogue's at random.
func voteOnce(ctx context.Context, client *http.Client, webURL string) error {
	if err := getOK(ctx, client, webURL+"/api/list"); err != nil {
		return err
	}
	return getOK(ctx, client, webURL+"/vote?emoji="+catalogue[rand.IntN(len(catalogue))].Shortcode)
}

func getOK(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
