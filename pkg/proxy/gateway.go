package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/net/http2"

	"github.com/meshfed/meshfed/pkg/proxy/certs"
	"github.com/meshfed/meshfed/pkg/trust"
)

// GatewayReasonHeader is set by an east-west gateway on every answer to a CONNECT that is not
// 200: why it refused, for the calling proxy's error and logs.
const GatewayReasonHeader = "Meshfed-Gateway-Reason"

// GatewayEndpointIdentityHeader is set by an east-west gateway on a 200 answer to a CONNECT:
// the identity of the pod it picked, which the caller's inner session must then prove. The
// caller believes it only within the gateway's own trust domain: the gateway it has
// authenticated speaks for its own cluster and no other.
const GatewayEndpointIdentityHeader = "Meshfed-Endpoint-Identity"

// Results of a gateway dial, the label of meshfed_proxy_gateway_dials_total.
const (
	gatewayOK       = "ok"
	gatewayDialErr  = "dial_error"        // TCP to the gateway failed
	gatewayTLSErr   = "gateway_tls_error" // the outer handshake failed: not the gateway announced
	gatewayRefused  = "refused"           // the gateway answered the CONNECT with an error
	gatewayConnErr  = "connect_error"     // the CONNECT failed otherwise (reset, timeout)
	gatewayInnerErr = "inner_tls_error"   // the remote workload's handshake failed
)

// gatewayTransport is the HTTP/2 client of one gateway: one outer mTLS connection per
// gateway address and identity, each tunnel a CONNECT stream on it.
func (o *outbound) gatewayTransport(ep Endpoint) *http2.Transport {
	key := ep.Addr.String() + " " + ep.Gateway.Identity.String()
	o.mu.Lock()
	defer o.mu.Unlock()
	if t, ok := o.gateways[key]; ok {
		return t
	}
	gw := *ep.Gateway
	addr := ep.Addr.String()
	t := &http2.Transport{
		DialTLSContext: func(ctx context.Context, network, _ string, _ *tls.Config) (net.Conn, error) {
			raw, err := o.p.cfg.Dial(ctx, network, addr)
			if err != nil {
				return nil, gatewayError{result: gatewayDialErr, err: err}
			}
			tc := tls.Client(raw, o.p.cfg.Certs.ClientConfig(gw.Identity, certs.ALPNGateway))
			hctx, cancel := context.WithTimeout(ctx, o.p.cfg.DialTimeout)
			defer cancel()
			if err := tc.HandshakeContext(hctx); err != nil {
				raw.Close()
				o.p.metrics.tlsFailure("outbound")
				return nil, gatewayError{result: gatewayTLSErr, err: fmt.Errorf("mTLS: %w", err)}
			}
			if got := tc.ConnectionState().NegotiatedProtocol; got != certs.ALPNGateway {
				tc.Close()
				return nil, gatewayError{result: gatewayTLSErr, err: fmt.Errorf("it speaks %q, not %q", got, certs.ALPNGateway)}
			}
			return newBatchedConn(tc), nil
		},
		ReadIdleTimeout: 30 * time.Second,
		PingTimeout:     5 * time.Second,
	}
	o.gateways[key] = t
	return t
}

// gatewayError is a failed gateway dial, with the stage it failed at.
type gatewayError struct {
	result string
	err    error
}

func (e gatewayError) Error() string { return e.err.Error() }
func (e gatewayError) Unwrap() error { return e.err }

// dialGateway opens a tunnel through ep's gateway to the remote service ep.Gateway.Authority:
// a CONNECT stream on the gateway's outer session, as a net.Conn. What the caller writes in it
// the gateway passes on to a remote pod as it is: the caller's own mTLS.
func (o *outbound) dialGateway(ctx context.Context, ep Endpoint) (net.Conn, *trust.ID, error) {
	gw := ep.Gateway
	named := func(err error) error {
		return fmt.Errorf("gateway %s (%s) of cluster %q, for %s: %w", ep.Addr, gw.Identity, gw.Cluster, gw.Authority, err)
	}
	// The stream outlives the request that opened it (an HTTP/2 connection to the remote
	// proxy is shared by later requests): ctx bounds only the wait for the gateway's answer.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	timer := time.AfterFunc(o.p.cfg.DialTimeout, cancel)
	pr, pw := io.Pipe()
	req := (&http.Request{
		Method: http.MethodConnect,
		URL:    &url.URL{Scheme: "https", Host: ep.Addr.String()},
		Host:   gw.Authority,
		Header: http.Header{},
		Body:   pr,
	}).WithContext(sctx)
	resp, err := o.gatewayTransport(ep).RoundTrip(req)
	timedOut := !timer.Stop()
	if !stop() || timedOut {
		// ctx ended, or the gateway took too long to answer: the stream goes with it.
		cancel()
		if err == nil {
			resp.Body.Close()
		}
		pw.Close()
		if err = ctx.Err(); err == nil {
			err = fmt.Errorf("no answer within %s", o.p.cfg.DialTimeout)
		}
		o.p.metrics.gatewayDial(gw.Cluster, gatewayConnErr)
		return nil, nil, named(err)
	}
	if err != nil {
		cancel()
		pw.Close()
		result := gatewayConnErr
		var ge gatewayError
		if errors.As(err, &ge) {
			result = ge.result
		}
		o.p.metrics.gatewayDial(gw.Cluster, result)
		return nil, nil, named(err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		resp.Body.Close()
		pw.Close()
		o.p.metrics.gatewayDial(gw.Cluster, gatewayRefused)
		reason := resp.Header.Get(GatewayReasonHeader)
		if reason == "" {
			reason = "no reason given"
		}
		return nil, nil, named(fmt.Errorf("refused: %s: %s", resp.Status, reason))
	}
	var announced *trust.ID
	if h := resp.Header.Get(GatewayEndpointIdentityHeader); h != "" {
		id, err := trust.ParseID(h)
		if err != nil || id.TrustDomain != gw.Identity.TrustDomain {
			cancel()
			resp.Body.Close()
			pw.Close()
			o.p.metrics.gatewayDial(gw.Cluster, gatewayRefused)
			return nil, nil, named(fmt.Errorf("the gateway names the endpoint %q, not an identity of its own trust domain %s", h, gw.Identity.TrustDomain))
		}
		announced = &id
	}
	return &tunnelConn{body: resp.Body, pr: pr, pw: pw, cancel: cancel, local: tunnelAddr("gateway tunnel"), remote: tunnelAddr(gw.Authority)}, announced, nil
}

// dialViaGateway opens the proxy's own mTLS session with the remote workload behind ep's
// gateway, inside a tunnel: the remote proxy must prove ep.Identity or one of the gateway's
// RemoteIdentities, since the gateway picks the pod; when the destination service named
// none, the identity the gateway announces for the pod it picked.
func (o *outbound) dialViaGateway(ctx context.Context, ep Endpoint, alpn string) (*tls.Conn, error) {
	var want []trust.ID
	if ep.Identity != nil {
		want = append(want, *ep.Identity)
	}
	want = append(want, ep.Gateway.RemoteIdentities...)
	raw, announced, err := o.dialGateway(ctx, ep)
	if err != nil {
		return nil, err
	}
	if len(want) == 0 {
		// The destination service knows no identity for the remote service: the gateway's
		// word for the pod it picked, in its own trust domain, is what the pod must prove.
		if announced == nil {
			raw.Close()
			return nil, fmt.Errorf("%s through gateway %s: neither the destination service nor the gateway names the remote identity to expect", ep.Gateway.Authority, ep.Addr)
		}
		want = []trust.ID{*announced}
	}
	tc := tls.Client(raw, o.p.cfg.Certs.ClientConfigAnyOf(want, alpn))
	hctx, cancel := context.WithTimeout(ctx, o.p.cfg.DialTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		raw.Close()
		o.p.metrics.tlsFailure("outbound")
		o.p.metrics.gatewayDial(ep.Gateway.Cluster, gatewayInnerErr)
		return nil, fmt.Errorf("mTLS to %s of cluster %q through gateway %s: %w", ep.Gateway.Authority, ep.Gateway.Cluster, ep.Addr, err)
	}
	if got := tc.ConnectionState().NegotiatedProtocol; got != alpn {
		tc.Close()
		o.p.metrics.gatewayDial(ep.Gateway.Cluster, gatewayInnerErr)
		return nil, fmt.Errorf("mTLS to %s of cluster %q through gateway %s: the peer speaks %q, not %q", ep.Gateway.Authority, ep.Gateway.Cluster, ep.Addr, got, alpn)
	}
	o.p.metrics.gatewayDial(ep.Gateway.Cluster, gatewayOK)
	return tc, nil
}

// tunnelConn is one CONNECT stream as a net.Conn: reads from the response body, writes into
// the request body.
type tunnelConn struct {
	body          io.ReadCloser
	pr            *io.PipeReader
	pw            *io.PipeWriter
	cancel        context.CancelFunc
	local, remote net.Addr
	once          sync.Once
}

func (c *tunnelConn) Read(b []byte) (int, error)  { return c.body.Read(b) }
func (c *tunnelConn) Write(b []byte) (int, error) { return c.pw.Write(b) }

// CloseWrite ends the request stream: the gateway half-closes its connection to the pod.
func (c *tunnelConn) CloseWrite() error { return c.pw.Close() }

func (c *tunnelConn) Close() error {
	c.once.Do(func() {
		c.pw.Close()
		// A Write blocked on a stream that is going away returns.
		c.pr.CloseWithError(net.ErrClosed)
		c.body.Close()
		c.cancel()
	})
	return nil
}

func (c *tunnelConn) LocalAddr() net.Addr  { return c.local }
func (c *tunnelConn) RemoteAddr() net.Addr { return c.remote }

// Deadlines are not kept: the stream has none of its own. The callers (crypto/tls, the
// HTTP/2 client, the opaque pipe) bound their waits otherwise: by a context closing the conn,
// pings, or the peer's end.
func (c *tunnelConn) SetDeadline(time.Time) error      { return nil }
func (c *tunnelConn) SetReadDeadline(time.Time) error  { return nil }
func (c *tunnelConn) SetWriteDeadline(time.Time) error { return nil }

// tunnelAddr names an end of a tunnel, which has no address of its own.
type tunnelAddr string

func (a tunnelAddr) Network() string { return "gateway" }
func (a tunnelAddr) String() string  { return string(a) }
