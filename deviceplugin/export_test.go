package deviceplugin

// Crash ends the plugin the way a killed process looks to kubelet: loops gone, every pool's server
// cut off at once, no final message on any stream. Stop still cleans up afterwards.
func (p *Plugin) Crash() {
	p.mu.Lock()
	if p.cancel != nil {
		p.cancel()
	}
	pools := p.poolList()
	p.mu.Unlock()
	p.wg.Wait()
	for _, s := range pools {
		s.srvMu.Lock()
		if s.srv != nil {
			s.srv.Stop()
			<-s.serve
			s.srv = nil
		}
		s.srvMu.Unlock()
	}
}

// KillServer stops one pool's gRPC server the way a Serve error does (the pool itself stays), and
// reports whether the pool exists.
func (p *Plugin) KillServer(resource string) bool {
	p.mu.Lock()
	s, ok := p.pools[resource]
	p.mu.Unlock()
	if !ok {
		return false
	}
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.srv != nil {
		s.srv.Stop()
		<-s.serve
	}
	return true
}
