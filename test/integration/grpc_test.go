package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
)

// echoService is the gRPC test service: UnaryCall echoes its payload, or
// fails with the requested status, or (payload "sleep") waits for its
// deadline; FullDuplexCall answers each message as it arrives.
type echoService struct {
	testpb.UnimplementedTestServiceServer
	// cancelled counts sleeping calls whose context ended: the deadline or
	// cancellation reached the backend through tlsgate.
	cancelled atomic.Int64
}

func (s *echoService) UnaryCall(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	if st := req.GetResponseStatus(); st != nil && st.Code != 0 {
		return nil, status.Error(codes.Code(st.Code), st.Message)
	}
	if string(req.GetPayload().GetBody()) == "sleep" {
		select {
		case <-ctx.Done():
			s.cancelled.Add(1)
			return nil, ctx.Err()
		case <-time.After(20 * time.Second):
			return nil, status.Error(codes.Internal, "the deadline never arrived")
		}
	}
	return &testpb.SimpleResponse{Payload: req.GetPayload()}, nil
}

func (s *echoService) FullDuplexCall(stream testpb.TestService_FullDuplexCallServer) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(&testpb.StreamingOutputCallResponse{Payload: req.GetPayload()}); err != nil {
			return err
		}
	}
}

// grpcBackend serves the echo and health services on a loopback port,
// over h2c when creds is nil, else over TLS.
func grpcBackend(t *testing.T, creds credentials.TransportCredentials) (addr string, svc *echoService) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var opts []grpc.ServerOption
	if creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	srv := grpc.NewServer(opts...)
	svc = &echoService{}
	testpb.RegisterTestServiceServer(srv, svc)
	healthpb.RegisterHealthServer(srv, health.NewServer()) // SERVING for ""
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String(), svc
}

// grpcClient connects to host on tlsgate's https port, trusting pool.
func grpcClient(t *testing.T, inst *instance, pool *x509.CertPool, host string) *grpc.ClientConn {
	t.Helper()
	creds := credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: host})
	cc, err := grpc.NewClient(fmt.Sprintf("passthrough:///%s:%d", host, inst.HTTPSPort),
		grpc.WithTransportCredentials(creds),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return loopbackDialer(ctx, "tcp", addr)
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

const grpcConfig = header + `
sites:
  - hosts: [h2c.test]
    tls: local
    routes:
      - path: /
        to: ["h2c://{{.Vars.H2C}}"]
  - hosts: [tls.test]
    tls: local
    routes:
      - path: /
        to: ["https://{{.Vars.TLS}}"]
        upstream_tls:
          ca_files: ["{{.Vars.Root}}"]
          server_name: grpc.internal
          client_cert_file: "{{.Vars.ClientCert}}"
          client_key_file: "{{.Vars.ClientKey}}"
  - hosts: [nocert.test]
    tls: local
    routes:
      - path: /
        to: ["https://{{.Vars.TLS}}"]
        upstream_tls: {ca_files: ["{{.Vars.Root}}"], server_name: grpc.internal}
  - hosts: [wrongname.test]
    tls: local
    routes:
      - path: /
        to: ["https://{{.Vars.TLS}}"]
        upstream_tls:
          ca_files: ["{{.Vars.Root}}"]
          server_name: other.internal
          client_cert_file: "{{.Vars.ClientCert}}"
          client_key_file: "{{.Vars.ClientKey}}"
`

// TestGRPC runs gRPC through tlsgate to an h2c:// backend and to an
// https:// backend that wants a client certificate, both certificates
// made with `tlsgate ca issue` from tlsgate's own local CA.
func TestGRPC(t *testing.T) {
	t.Parallel()
	g := newGateConfig(t)
	dir := g.Dir
	tlsgate(t, dir, "ca", "issue", "grpc.internal", "--data-dir", g.DataDir, "--cert-out", "srv.crt", "--key-out", "srv.key")
	tlsgate(t, dir, "ca", "issue", "tlsgate.internal", "--client", "--data-dir", g.DataDir, "--cert-out", "client.crt", "--key-out", "client.key")
	root := filepath.Join(g.DataDir, "ca", "root.crt")
	roots := poolFromFile(t, root)
	srvCert, err := tls.LoadX509KeyPair(filepath.Join(dir, "srv.crt"), filepath.Join(dir, "srv.key"))
	if err != nil {
		t.Fatal(err)
	}
	h2cAddr, h2cSvc := grpcBackend(t, nil)
	tlsAddr, _ := grpcBackend(t, credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{srvCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    roots,
	}))
	g.Vars = map[string]string{
		"H2C": h2cAddr, "TLS": tlsAddr, "Root": root,
		"ClientCert": filepath.Join(dir, "client.crt"), "ClientKey": filepath.Join(dir, "client.key"),
	}
	inst := startWith(t, g, grpcConfig)
	pool := inst.rootPool(t)

	for _, host := range []string{"h2c.test", "tls.test"} {
		t.Run(host, func(t *testing.T) {
			cc := grpcClient(t, inst, pool, host)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			client := testpb.NewTestServiceClient(cc)

			hc, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
			if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("health Check = %v, %v; want SERVING", hc, err)
			}
			resp, err := client.UnaryCall(ctx, &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte("hello")}})
			if err != nil || string(resp.GetPayload().GetBody()) != "hello" {
				t.Fatalf("UnaryCall = %v, %v; want hello", resp, err)
			}

			stream, err := client.FullDuplexCall(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 100 {
				want := fmt.Sprintf("message %d", i)
				if err := stream.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: []byte(want)}}); err != nil {
					t.Fatalf("Send %d: %v", i, err)
				}
				got, err := stream.Recv()
				if err != nil || string(got.GetPayload().GetBody()) != want {
					t.Fatalf("Recv %d = %v, %v; want %q", i, got, err, want)
				}
			}
			if err := stream.CloseSend(); err != nil {
				t.Fatal(err)
			}
			if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
				t.Fatalf("after CloseSend, Recv = %v; want EOF (status OK)", err)
			}

			// An erroring method: its grpc-status and message arrive.
			_, err = client.UnaryCall(ctx, &testpb.SimpleRequest{ResponseStatus: &testpb.EchoStatus{Code: int32(codes.FailedPrecondition), Message: "not today"}})
			if st, _ := status.FromError(err); st.Code() != codes.FailedPrecondition || st.Message() != "not today" {
				t.Fatalf("erroring UnaryCall = %v; want FailedPrecondition \"not today\"", err)
			}

			// The deadline travels (grpc-timeout) and ends the backend's call.
			short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
			_, err = client.UnaryCall(short, &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte("sleep")}})
			cancelShort()
			if st, _ := status.FromError(err); st.Code() != codes.DeadlineExceeded {
				t.Fatalf("sleeping UnaryCall = %v; want DeadlineExceeded", err)
			}
		})
	}
	eventually(t, 5*time.Second, "the h2c backend's sleeping call ended by its deadline", func() error {
		if h2cSvc.cancelled.Load() == 0 {
			return errors.New("the backend never saw the deadline")
		}
		return nil
	})

	t.Run("HTTP/1.1 client gets 400", func(t *testing.T) {
		c := inst.client(t, pool, false)
		resp, err := c.Post(inst.url("h2c.test", "/grpc.testing.TestService/UnaryCall"), "application/grpc", strings.NewReader("\x00\x00\x00\x00\x00"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(body), "gRPC needs HTTP/2") {
			t.Fatalf("HTTP/1.1 gRPC = %d %q; want 400 saying gRPC needs HTTP/2", resp.StatusCode, body)
		}
	})

	t.Run("no client certificate is refused", func(t *testing.T) {
		code, _ := get(t, inst.client(t, pool, true), inst.url("nocert.test", "/"))
		if code != 502 {
			t.Fatalf("GET through nocert.test = %d; want 502", code)
		}
	})

	t.Run("wrong server_name is 502 with a clear log line", func(t *testing.T) {
		code, _ := get(t, inst.client(t, pool, true), inst.url("wrongname.test", "/"))
		if code != 502 {
			t.Fatalf("GET through wrongname.test = %d; want 502", code)
		}
		if !inst.WaitLog("does not cover the name verified (other.internal)", 5*time.Second) {
			t.Fatalf("no log line naming the server_name problem:\n%s", inst.Stderr.String())
		}
	})
}
