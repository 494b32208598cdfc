// Package deploy holds the Kubernetes manifests of the shipper (a Kustomize
// base and the overlays sidecar, daemonset and forward; README.md explains
// them) and no code. Its tests are the proof that those files and
// docker-compose.yml at the repository root are valid and wired as intended:
// every manifest decodes strictly into the Kubernetes API types, the rendered
// overlays keep the security properties they promise, and the compose file
// loads with the Compose Specification's own loader.
//
// It is a Go module of its own (go.mod here), so that the Kubernetes,
// Kustomize and Compose libraries its tests need are not dependencies of the
// shipper; `make test` runs its tests too.
package deploy
