package deviceplugin

import (
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// insecureCreds: kubelet's sockets are local unix sockets protected by file permissions.
func insecureCreds() credentials.TransportCredentials { return insecure.NewCredentials() }
