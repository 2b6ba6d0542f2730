package ipam

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// u128 is an unsigned 128-bit integer: an address, or an offset inside a range of any size.
type u128 struct{ hi, lo uint64 }

func u128From(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{lo: uint64(binary.BigEndian.Uint32(b[:]))}
	}
	b := a.As16()
	return u128{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:])}
}

// addr converts back to an address of the family of like.
func (u u128) addr(is4 bool) netip.Addr {
	if is4 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(u.lo))
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], u.hi)
	binary.BigEndian.PutUint64(b[8:], u.lo)
	return netip.AddrFrom16(b)
}

func (u u128) add(v u128) u128 {
	lo, c := bits.Add64(u.lo, v.lo, 0)
	hi, _ := bits.Add64(u.hi, v.hi, c)
	return u128{hi, lo}
}

func (u u128) sub(v u128) u128 {
	lo, b := bits.Sub64(u.lo, v.lo, 0)
	hi, _ := bits.Sub64(u.hi, v.hi, b)
	return u128{hi, lo}
}

func (u u128) inc() u128 { return u.add(u128{lo: 1}) }

func (u u128) cmp(v u128) int {
	switch {
	case u.hi < v.hi:
		return -1
	case u.hi > v.hi:
		return 1
	case u.lo < v.lo:
		return -1
	case u.lo > v.lo:
		return 1
	}
	return 0
}

func (u u128) less(v u128) bool { return u.cmp(v) < 0 }

func (u u128) isMax() bool { return u.hi == ^uint64(0) && u.lo == ^uint64(0) }

// shr shifts right by n < 64.
func (u u128) shr(n uint) u128 {
	return u128{hi: u.hi >> n, lo: u.lo>>n | u.hi<<(64-n)}
}

// shl shifts left by n < 64.
func (u u128) shl(n uint) u128 {
	return u128{hi: u.hi<<n | u.lo>>(64-n), lo: u.lo << n}
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	p = p.Masked()
	a := p.Addr()
	hostBits := a.BitLen() - p.Bits()
	u := u128From(a)
	if hostBits >= 64 {
		u.lo = ^uint64(0)
		u.hi |= (uint64(1) << (hostBits - 64)) - 1
		if hostBits == 128 {
			u.hi = ^uint64(0)
		}
	} else if hostBits > 0 {
		u.lo |= (uint64(1) << hostBits) - 1
	}
	return u.addr(a.Is4())
}
