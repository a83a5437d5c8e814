package fake

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"time"
)

// Hosts returns the names the fake's certificate covers: every host that
// kkdai/youtube, yt-dlp and ytx's own downloader reach.
func Hosts() []string { return append([]string(nil), hosts...) }

var hosts = []string{
	"www.youtube.com", "youtube.com", "*.youtube.com", "youtu.be",
	"www.youtube-nocookie.com", "youtube-nocookie.com",
	"*.googlevideo.com", "i.ytimg.com", "*.ytimg.com",
	"localhost",
}

// pki is a throw-away certificate authority and the one leaf it signs. ECDSA
// P-256 keys take microseconds to make, so every Server gets its own CA and
// no key material is ever checked in.
type pki struct {
	caPEM []byte
	pool  *x509.CertPool
	leaf  tls.Certificate
}

func newPKI() (*pki, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{Organization: []string{"ytx fake YouTube"}, CommonName: "ytx fake YouTube CA"},
		NotBefore:             now.Add(-time.Hour), // tolerate clock skew between processes
		NotAfter:              now.Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}

	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{Organization: []string{"ytx fake YouTube"}, CommonName: "www.youtube.com"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     hosts,
		// Loopback addresses too, so a client that dials the listener by
		// address (curl --connect-to aside) still verifies.
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}

	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &pki{
		caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pool:  pool,
		leaf:  tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: leafKey},
	}, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}

// CertPool returns a pool holding only the fake's CA: put it in
// tls.Config.RootCAs of a client that talks to the fake in process.
func (s *Server) CertPool() *x509.CertPool { return s.pki.pool.Clone() }

// CAPEM returns the fake's CA certificate, PEM-encoded.
func (s *Server) CAPEM() []byte { return append([]byte(nil), s.pki.caPEM...) }

// WriteCAFile writes the CA certificate to path, for another process that
// trusts it through SSL_CERT_FILE (Go, curl, Python's requests and yt-dlp all
// read it). Note that SSL_CERT_FILE replaces the system roots for Go.
func (s *Server) WriteCAFile(path string) error {
	return os.WriteFile(path, s.pki.caPEM, 0o644)
}
