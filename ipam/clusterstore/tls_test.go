package clusterstore_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/vflab/vflab/ipam"
	"github.com/vflab/vflab/ipam/clusterstore"
	"github.com/vflab/vflab/ipam/etcdserver"
)

// pki is a throwaway CA with one server and one client certificate, as PEM files in dir.
type pki struct {
	ca, serverCert, serverKey, clientCert, clientKey string
}

func newPKI(dir string) pki {
	GinkgoHelper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Expect(err).NotTo(HaveOccurred())
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vflab test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	Expect(err).NotTo(HaveOccurred())
	caCert, err := x509.ParseCertificate(caDER)
	Expect(err).NotTo(HaveOccurred())
	p := pki{ca: filepath.Join(dir, "ca.pem")}
	writePEM(p.ca, "CERTIFICATE", caDER)

	issue := func(name string, serial int64, usage x509.ExtKeyUsage, ips []net.IP) (string, string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		Expect(err).NotTo(HaveOccurred())
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		Expect(err).NotTo(HaveOccurred())
		keyDER, err := x509.MarshalECPrivateKey(key)
		Expect(err).NotTo(HaveOccurred())
		cert, keyFile := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
		writePEM(cert, "CERTIFICATE", der)
		writePEM(keyFile, "EC PRIVATE KEY", keyDER)
		return cert, keyFile
	}
	p.serverCert, p.serverKey = issue("server", 2, x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	p.clientCert, p.clientKey = issue("client", 3, x509.ExtKeyUsageClientAuth, nil)
	return p
}

func writePEM(path, typ string, der []byte) {
	GinkgoHelper()
	Expect(os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)).To(Succeed())
}

var _ = Describe("the cluster store against an etcd with TLS client certificates and auth", Ordered, func() {
	var (
		p        pki
		endpoint string
	)

	BeforeAll(func(ctx SpecContext) {
		p = newPKI(GinkgoT().TempDir())
		s, err := etcdserver.Start(ctx, etcdserver.Config{
			DataDir:       GinkgoT().TempDir(),
			ClientTLS:     etcdserver.TLSFiles{CertFile: p.serverCert, KeyFile: p.serverKey, TrustedCAFile: p.ca, ClientCertAuth: true},
			UnsafeNoFsync: true,
		})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(s.Close)
		endpoint = s.ClientURL()
		Expect(endpoint).To(HavePrefix("https://127.0.0.1:"))

		// root, and a user "ipam" that may only touch /vflab/ipam/.
		tlsCfg, err := transport.TLSInfo{CertFile: p.clientCert, KeyFile: p.clientKey, TrustedCAFile: p.ca}.ClientConfig()
		Expect(err).NotTo(HaveOccurred())
		admin, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, TLS: tlsCfg, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		Expect(err).NotTo(HaveOccurred())
		defer admin.Close()
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		for _, step := range []func() error{
			func() error { _, err := admin.UserAdd(actx, "root", "rootpw"); return err },
			func() error { _, err := admin.UserGrantRole(actx, "root", "root"); return err },
			func() error { _, err := admin.RoleAdd(actx, "ipam"); return err },
			func() error {
				_, err := admin.RoleGrantPermission(actx, "ipam", "/vflab/ipam/", clientv3.GetPrefixRangeEnd("/vflab/ipam/"), clientv3.PermissionType(clientv3.PermReadWrite))
				return err
			},
			func() error { _, err := admin.UserAdd(actx, "ipam", "ipampw"); return err },
			func() error { _, err := admin.UserGrantRole(actx, "ipam", "ipam"); return err },
			func() error { _, err := admin.AuthEnable(actx); return err },
		} {
			Expect(step()).To(Succeed())
		}
	})

	open := func(ctx context.Context, cfg clusterstore.Config) *clusterstore.Store {
		cfg.Endpoints = []string{endpoint}
		cfg.RequestTimeout = 10 * time.Second // bcrypt under -race is slow
		cfg.DialTimeout = 10 * time.Second
		s, err := clusterstore.New(ctx, cfg)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(s.Close)
		return s
	}

	It("allocates with a client certificate and the right password", func(ctx SpecContext) {
		s := open(ctx, clusterstore.Config{CertFile: p.clientCert, KeyFile: p.clientKey, CAFile: p.ca, Username: "ipam", Password: "ipampw"})
		a, err := ipam.Add(ctx, s, network("secure", "10.9.0.0/24"), request(owner(1)))
		Expect(err).NotTo(HaveOccurred())
		Expect(a[0].Addr).To(Equal(netipAddr("10.9.0.1")))
		expectConsistent(ctx, s, "secure")
	})

	It("is refused with a wrong password", func(ctx SpecContext) {
		s, err := clusterstore.New(ctx, clusterstore.Config{Endpoints: []string{endpoint}, CertFile: p.clientCert, KeyFile: p.clientKey, CAFile: p.ca,
			Username: "ipam", Password: "wrong", RequestTimeout: 10 * time.Second, DialTimeout: 10 * time.Second})
		if err == nil {
			DeferCleanup(s.Close)
			_, err = ipam.Add(ctx, s, network("secure", "10.9.0.0/24"), request(owner(2)))
		}
		Expect(err).To(MatchError(ContainSubstring("authentication failed")))
	})

	It("is refused outside the prefix the user may write", func(ctx SpecContext) {
		s := open(ctx, clusterstore.Config{CertFile: p.clientCert, KeyFile: p.clientKey, CAFile: p.ca, Username: "ipam", Password: "ipampw", Prefix: "/elsewhere/"})
		_, err := ipam.Add(ctx, s, network("secure", "10.9.0.0/24"), request(owner(3)))
		Expect(err).To(MatchError(ContainSubstring("permission denied")))
	})

	It("cannot connect without a client certificate", func(ctx SpecContext) {
		s, err := clusterstore.New(ctx, clusterstore.Config{Endpoints: []string{endpoint}, CAFile: p.ca, Username: "ipam", Password: "ipampw",
			RequestTimeout: time.Second, DialTimeout: time.Second})
		if err == nil {
			DeferCleanup(s.Close)
			_, err = ipam.Add(ctx, s, network("secure", "10.9.0.0/24"), request(owner(4)))
		}
		Expect(err).To(MatchError(clusterstore.ErrUnreachable))
		Expect(err.Error()).To(MatchRegexp(`etcd unreachable after \d`))
	})

	It("does not trust a server signed by another CA", func(ctx SpecContext) {
		other := newPKI(GinkgoT().TempDir())
		s, err := clusterstore.New(ctx, clusterstore.Config{Endpoints: []string{endpoint}, CertFile: p.clientCert, KeyFile: p.clientKey, CAFile: other.ca,
			Username: "ipam", Password: "ipampw", RequestTimeout: time.Second, DialTimeout: time.Second})
		if err == nil {
			DeferCleanup(s.Close)
			_, err = ipam.Add(ctx, s, network("secure", "10.9.0.0/24"), request(owner(5)))
		}
		Expect(err).To(MatchError(clusterstore.ErrUnreachable))
	})
})
