package inventory

import (
	"fmt"

	"github.com/spf13/afero"

	"github.com/vflab/vflab/drivers/ib"
	"github.com/vflab/vflab/drivers/sriov"
)

// Report is one machine's inventory.
type Report struct {
	PFs    []PF       `json:"pfs"`
	Others []Function `json:"others,omitempty"`
	// RDMACM is /dev/infiniband/rdma_cm when present.
	RDMACM string `json:"rdmaCM,omitempty"`
}

// Function is a PCI function with the details of its RDMA devices.
type Function struct {
	sriov.Function
	RDMA []ib.Device `json:"rdma,omitempty"`
}

// PF is an SR-IOV PF with its VFs.
type PF struct {
	Function
	TotalVFs  int    `json:"totalVFs"`
	NumVFs    int    `json:"numVFs"`
	Autoprobe bool   `json:"autoprobe"`
	VFDevice  string `json:"vfDevice,omitempty"`
	VFs       []VF   `json:"vfs"`
}

// VF is a VF with its index on its PF.
type VF struct {
	Function
	PF    string `json:"pf"`
	Index int    `json:"index"`
}

// Take reads the machine whose filesystem (rooted at "/") is fs.
func Take(fs afero.Fs) (*Report, error) {
	pci := sriov.New(fs, nil)
	rdma := ib.New(fs, nil, pci)
	inv, err := pci.Discover()
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	fn := func(f sriov.Function) (Function, error) {
		out := Function{Function: f}
		if len(f.RDMADevices) == 0 {
			return out, nil
		}
		devs, err := rdma.Devices(f.Address)
		if err != nil {
			return out, fmt.Errorf("inventory: %w", err)
		}
		out.RDMA = devs
		return out, nil
	}
	r := &Report{RDMACM: rdma.RDMACM()}
	for _, p := range inv.PFs {
		f, err := fn(p.Function)
		if err != nil {
			return nil, err
		}
		pf := PF{Function: f, TotalVFs: p.TotalVFs, NumVFs: p.NumVFs, Autoprobe: p.Autoprobe, VFDevice: p.VFDevice, VFs: []VF{}}
		for _, v := range p.VFs {
			vf, err := fn(v.Function)
			if err != nil {
				return nil, err
			}
			pf.VFs = append(pf.VFs, VF{Function: vf, PF: v.PF, Index: v.Index})
		}
		r.PFs = append(r.PFs, pf)
	}
	for _, o := range inv.Others {
		f, err := fn(o)
		if err != nil {
			return nil, err
		}
		r.Others = append(r.Others, f)
	}
	return r, nil
}
