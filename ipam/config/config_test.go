package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/vflab/vflab/ipam"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		conf    string
		args    string
		want    string // fmt of the parsed essentials
		wantErr string
	}{{
		name: "host-local ranges, dual stack, routes, dataDir",
		conf: `{"cniVersion":"1.1.0","name":"mynet","ipam":{"type":"vflab-ipam","dataDir":"/tmp/d",
			"routes":[{"dst":"0.0.0.0/0"}],
			"ranges":[[{"subnet":"10.1.2.0/24","rangeStart":"10.1.2.9","rangeEnd":"10.1.2.40"},{"subnet":"10.1.3.0/24","gateway":"10.1.3.254"}],
			          [{"subnet":"fd00::/64"}]]}}`,
		want: "mynet node /tmp/d [[10.1.2.0/24 10.1.2.9-10.1.2.40 gw 10.1.2.1 | 10.1.3.0/24 10.1.3.1-10.1.3.254 gw 10.1.3.254] [fd00::/64 fd00::1-fd00::ffff:ffff:ffff:ffff gw fd00::1]] ips [] pod //",
	}, {
		name: "host-local legacy top-level subnet, prepended; runtimeConfig.ipRanges first",
		conf: `{"name":"n","ipam":{"subnet":"10.0.0.0/30","gateway":"10.0.0.2","ranges":[[{"subnet":"10.9.0.0/30"}]]},
			"runtimeConfig":{"ipRanges":[[{"subnet":"fd01::/120"}]]}}`,
		want: "n node  [[fd01::/120 fd01::1-fd01::ff gw fd01::1] [10.0.0.0/30 10.0.0.1-10.0.0.2 gw 10.0.0.2] [10.9.0.0/30 10.9.0.1-10.9.0.2 gw 10.9.0.1]] ips [] pod //",
	}, {
		name: "whereabouts range with A-B/NN, exclude, network_name, etcd endpoints string → cluster",
		conf: `{"name":"n","ipam":{"type":"vflab-ipam","range":"192.168.2.225-192.168.2.230/28","exclude":["192.168.2.227/32","192.168.2.228-192.168.2.229"],
			"network_name":"blue","gateway":"192.168.2.238","etcd_endpoints":"https://a:2379,https://b:2379",
			"etcd_cert_file":"c","etcd_key_file":"k","etcd_ca_cert_file":"ca","etcd_username":"u","etcd_password":"p"}}`,
		want: "blue cluster  [[192.168.2.224/28 192.168.2.225-192.168.2.230 gw 192.168.2.238 x[192.168.2.227-192.168.2.227 192.168.2.228-192.168.2.229]]] ips [] pod //",
	}, {
		name: "whereabouts ipRanges dual stack, lowest-free, static requests from all three sources, pod",
		conf: `{"name":"n","ipam":{"range":"10.5.0.0/24","range_start":"10.5.0.10","policy":"lowest-free",
			"ipRanges":[{"range":"fd05::/64","range_end":"fd05::ff","exclude":["fd05::1"]}]},
			"args":{"cni":{"ips":["fd05::7/64"]}},"runtimeConfig":{"ips":["10.5.0.99"]}}`,
		args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=pod1;K8S_POD_UID=u-1;IP=10.5.0.20",
		want: "n node  [[10.5.0.0/24 10.5.0.10-10.5.0.254] [fd05::/64 fd05::1-fd05::ff x[fd05::1-fd05::1]]] ips [10.5.0.20 fd05::7 10.5.0.99] pod ns1/pod1/u-1",
	}, {
		name: "whereabouts IPv6 range skips the all-ones address",
		conf: `{"name":"n","ipam":{"range":"fd06::/120"}}`,
		want: "n node  [[fd06::/120 fd06::1-fd06::fe]] ips [] pod //",
	}, {
		name: "whereabouts range with host bits starts at that address",
		conf: `{"name":"n","ipam":{"range":"10.6.0.50/24"}}`,
		want: "n node  [[10.6.0.0/24 10.6.0.50-10.6.0.254]] ips [] pod //",
	}, {
		name:    "bad subnet names the field",
		conf:    `{"name":"n","ipam":{"ranges":[[{"subnet":"10.0.0.0/33"}]]}}`,
		wantErr: `ipam.ranges[0][0].subnet: "10.0.0.0/33" is not a CIDR`,
	}, {
		name:    "host bits set",
		conf:    `{"name":"n","ipam":{"ranges":[[{"subnet":"10.0.0.1/24"}]]}}`,
		wantErr: `ipam.ranges[0][0].subnet: "10.0.0.1/24" has host bits set`,
	}, {
		name:    "rangeStart outside subnet",
		conf:    `{"name":"n","ipam":{"ranges":[[{"subnet":"10.0.0.0/24","rangeStart":"10.0.1.1"}]]}}`,
		wantErr: `ipam.ranges[0][0].start: 10.0.1.1 is not in subnet 10.0.0.0/24`,
	}, {
		name:    "overlap across formats",
		conf:    `{"name":"n","ipam":{"ranges":[[{"subnet":"10.0.0.0/24"}]],"ipRanges":[{"range":"10.0.0.0/25"}]}}`,
		wantErr: `ipam.ipRanges[0]: 10.0.0.1-10.0.0.126 overlaps ipam.ranges[0][0]`,
	}, {
		name:    "bad exclude",
		conf:    `{"name":"n","ipam":{"range":"10.0.0.0/24","exclude":["10.0.0.9-10.0.0.3"]}}`,
		wantErr: `ipam.exclude[0]: "10.0.0.9-10.0.0.3" is not an ascending A-B span`,
	}, {
		name:    "bad range form",
		conf:    `{"name":"n","ipam":{"range":"10.0.0.1-10.0.0.9"}}`,
		wantErr: `ipam.range: "10.0.0.1-10.0.0.9" is neither a CIDR nor A-B/NN`,
	}, {
		name:    "no ranges",
		conf:    `{"name":"n","ipam":{"type":"vflab-ipam"}}`,
		wantErr: `ipam: no range`,
	}, {
		name:    "no ipam",
		conf:    `{"name":"n"}`,
		wantErr: `ipam: missing`,
	}, {
		name:    "cluster without endpoints",
		conf:    `{"name":"n","ipam":{"range":"10.0.0.0/24","store":"cluster"}}`,
		wantErr: `ipam.etcd_endpoints: missing`,
	}, {
		name:    "unknown store",
		conf:    `{"name":"n","ipam":{"range":"10.0.0.0/24","store":"floppy"}}`,
		wantErr: `ipam.store: "floppy"`,
	}, {
		name:    "bad policy",
		conf:    `{"name":"n","ipam":{"range":"10.0.0.0/24","policy":"random"}}`,
		wantErr: `ipam.policy: "random"`,
	}, {
		name:    "bad CNI_ARGS IP",
		conf:    `{"name":"n","ipam":{"range":"10.0.0.0/24"}}`,
		args:    "IP=banana",
		wantErr: `CNI_ARGS IP: "banana"`,
	}, {
		name:    "zoned static address",
		conf:    `{"name":"n","ipam":{"range":"fe80::/64"}}`,
		args:    "IP=fe80::5%eth0",
		wantErr: `CNI_ARGS IP: "fe80::5%eth0"`,
	}, {
		name:    "bad endpoint",
		conf:    `{"name":"n","ipam":{"range":"10.0.0.0/24","etcd_endpoints":["a:2379"]}}`,
		wantErr: `ipam.etcd_endpoints[0]: "a:2379" is not a URL`,
	}, {
		name:    "cert without key",
		conf:    `{"name":"n","ipam":{"range":"10.0.0.0/24","etcd_endpoints":"http://a:2379","etcd_cert_file":"c"}}`,
		wantErr: `set both or neither`,
	}, {
		name:    "bad timeout",
		conf:    `{"name":"n","ipam":{"range":"10.0.0.0/24","timeout":"soon"}}`,
		wantErr: `ipam.timeout: "soon"`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse([]byte(tt.conf), tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ipam.ErrInvalidConfig) {
					t.Fatalf("err = %v, want ErrInvalidConfig containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := summary(c); got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func summary(c *Config) string {
	var sets []string
	for _, set := range c.Network.RangeSets {
		var rs []string
		for _, r := range set {
			s := fmt.Sprintf("%s %s-%s", r.Subnet, r.Start, r.End)
			if r.Gateway.IsValid() {
				s += " gw " + r.Gateway.String()
			}
			if len(r.Exclude) > 0 {
				var xs []string
				for _, x := range r.Exclude {
					xs = append(xs, x.From.String()+"-"+x.To.String())
				}
				s += " x" + fmt.Sprint(xs)
			}
			rs = append(rs, s)
		}
		sets = append(sets, "["+strings.Join(rs, " | ")+"]")
	}
	return fmt.Sprintf("%s %s %s [%s] ips %v pod %s/%s/%s", c.Network.Name, c.Store, c.DataDir, strings.Join(sets, " "), c.IPs,
		c.Pod.Namespace, c.Pod.Name, c.Pod.UID)
}

// FuzzParse: any input either parses into a valid network a pool can be built from, or fails with
// ErrInvalidConfig; never a panic.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"name":"n","ipam":{"ranges":[[{"subnet":"10.1.2.0/24","rangeStart":"10.1.2.9"}],[{"subnet":"fd00::/64"}]]}}`,
		`{"name":"n","ipam":{"range":"192.168.2.225-192.168.2.230/28","exclude":["192.168.2.227/32","192.168.2.228-192.168.2.229"]}}`,
		`{"name":"n","ipam":{"subnet":"10.0.0.0/30","ipRanges":[{"range":"fd05::/64","range_end":"fd05::ff"}]},"runtimeConfig":{"ips":["10.0.0.1"]}}`,
		`{"name":"n","ipam":{"range":"::/0","exclude":["::-ffff::"]}}`,
		`{"name":"n","ipam":{"range":"10.0.0.0/8","etcd_endpoints":"http://x:1","store":"cluster"}}`,
		`{}`, `[]`, `{"ipam":null}`,
	} {
		f.Add([]byte(s), "K8S_POD_NAME=a;IP=10.0.0.1")
	}
	f.Fuzz(func(t *testing.T, conf []byte, args string) {
		c, err := Parse(conf, args)
		if err != nil {
			if !errors.Is(err, ipam.ErrInvalidConfig) {
				t.Fatalf("error does not wrap ErrInvalidConfig: %v", err)
			}
			return
		}
		p, err := ipam.NewPool(&c.Network, nil)
		if err != nil {
			t.Fatalf("parsed network does not build a pool: %v", err)
		}
		_, _ = p.Allocate(ipam.Request{IPs: c.IPs})
	})
}
