package githost

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"sync"
	"time"
)

// # TLS
//
// [Server.EnableTLS] makes the host answer https://NAME/... too: a CONNECT
// through the proxy (HTTPS_PROXY, https_proxy) for NAME:443 is answered
// with a TLS server whose certificate, for NAME, is signed by a test CA
// made per server ([Server.CAPEM]; the go command trusts it through
// SSL_CERT_FILE, git through GIT_SSL_CAINFO). go-import answers then name
// https repositories, so no GOINSECURE is needed, and the go command sends
// .netrc credentials (they go only over https).

// EnableTLS makes a CA and a certificate for the host name and starts
// answering CONNECT requests with TLS. It returns the CA certificate.
func (s *Server) EnableTLS() ([]byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "githost test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: s.Name},
		DNSNames:     []string{s.Name},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.tlsConfig = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER, caDER}, PrivateKey: key}}}
	s.mu.Unlock()
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), nil
}

// connect answers a CONNECT request for NAME:443: the client's tunnel is
// served as https by the same handler.
func (s *Server) connect(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	cfg := s.tlsConfig
	s.mu.Unlock()
	host, port, err := net.SplitHostPort(r.Host)
	if cfg == nil || err != nil || host != s.Name || port != "443" {
		http.Error(w, "githost: only "+s.Name+":443 is tunnelled here", http.StatusForbidden)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "githost: cannot tunnel", http.StatusInternalServerError)
		return
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return
	}
	if _, err := brw.WriteString("HTTP/1.1 200 Connection established\r\n\r\n"); err != nil || brw.Flush() != nil {
		conn.Close()
		return
	}
	tconn := tls.Server(&bufferedConn{Conn: conn, r: brw.Reader}, cfg)
	l := &oneConnListener{conn: tconn, addr: conn.LocalAddr()}
	srv := &http.Server{Handler: http.HandlerFunc(s.ServeHTTP), ReadHeaderTimeout: time.Minute,
		// The tunnel's one connection ends its server.
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateClosed || st == http.StateHijacked {
				l.Close()
			}
		}}
	go srv.Serve(l)
}

// bufferedConn reads first what the hijacked reader holds.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// oneConnListener hands out one connection, then blocks until closed.
type oneConnListener struct {
	conn net.Conn
	addr net.Addr
	once sync.Once
	done chan struct{}
	mu   sync.Mutex
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.done == nil {
		l.done = make(chan struct{})
	}
	c, done := l.conn, l.done
	l.conn = nil
	l.mu.Unlock()
	if c != nil {
		return c, nil // a *tls.Conn, so that requests carry their TLS state
	}
	<-done
	return nil, errors.New("githost: tunnel closed")
}

func (l *oneConnListener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done == nil {
		l.done = make(chan struct{})
	}
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return l.addr }
