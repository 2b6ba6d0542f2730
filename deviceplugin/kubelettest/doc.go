// Package kubelettest is a fake kubelet for device plugins, with real gRPC on unix sockets: the
// Registration service on kubelet.sock (and, optionally, the plugin watcher of plugins_registry), a device
// manager that connects back to every plugin, consumes ListAndWatch and keeps capacity, allocatable and
// allocated counts per resource like kubelet does, Allocate/Release per pod and container (asking the
// plugin's GetPreferredAllocation when it offers one), and the pod-resources List API on its own socket.
// It can be stopped and started again, keeping its allocations as kubelet's checkpoint does.
// Tests and the simulated cluster use it.
package kubelettest
